// The SDK compatibility matrix: real Azure SDK clients (tests/sdk/<language>/, each a tiny program printing one JSON
// line) run unmodified as the application of the e2e pod (tests/e2e/pod.hpp), one pod per client and case: through
// the iptables redirect, through AZURE_POD_IDENTITY_AUTHORITY_HOST, and their reactions to Entra's rejection, to
// throttling, to an outage, to a timeout and, for DefaultAzureCredential, to an identity the proxy cannot serve.
// Each case writes its outcome to SDK_RESULTS_DIR; tests/sdk/matrix.py turns those into docs/compatibility.md.
// Needs root (network namespaces); skipped with the reason otherwise.
#include <boost/json/object.hpp>
#include <ctime>
#include <functional>

#include "pod.hpp"

using namespace azwi::e2e;

namespace {

// Not in the emulator's directory: Entra answers AADSTS700016 for it.
const std::string kUnknownClient = "0badc11e-0000-4000-8000-00000000dead";
const std::string kProxyUrl = "http://127.0.0.1:" + std::to_string(kProxyPort);

struct Client {
  std::string name;      // also the ctest suffix
  std::string language;  // which setup to run: go, python, java, node
  std::vector<std::string> args;  // mode and how to name the identity; the runner adds program, resource, client ID
  bool names_client;     // passes the client ID (else: the system default, i.e. the proxy's AZURE_CLIENT_ID)
  bool chain;            // DefaultAzureCredential: unavailable credentials hand over to the next one
  bool honours_pod_identity_host;  // what the library's source says; the PodIdentityHost case checks it
  std::string next_credential;     // chain only: a credential after ManagedIdentityCredential, named in its error
};

const std::vector<Client>& clients() {
  static const std::vector<Client> all{
      {"go_azidentity_mi", "go", {"azidentity-mi"}, true, false, false, ""},
      {"go_azidentity_mi_system", "go", {"azidentity-mi"}, false, false, false, ""},
      {"go_azidentity_default", "go", {"azidentity-default"}, false, true, false, "AzureCLICredential"},
      {"go_adal_msi", "go", {"adal-msi"}, true, false, false, ""},
      {"python_mi", "python", {"mi"}, true, false, true, ""},
      {"python_default", "python", {"default"}, false, true, true, "AzureCliCredential"},
      {"java_mi", "java", {"mi"}, true, false, true, ""},
      {"node_mi", "node", {"mi"}, true, false, true, ""},
      {"node_default", "node", {"default"}, false, true, true, "AzureCliCredential"},
  };
  return all;
}

enum class Case { Redirect, PodIdentityHost, Rejection, Throttle, Outage, Timeout, ChainMovesOn };

const char* case_name(Case c) {
  switch (c) {
    case Case::Redirect: return "Redirect";
    case Case::PodIdentityHost: return "PodIdentityHost";
    case Case::Rejection: return "Rejection";
    case Case::Throttle: return "Throttle";
    case Case::Outage: return "Outage";
    case Case::Timeout: return "Timeout";
    case Case::ChainMovesOn: return "ChainMovesOn";
  }
  return "?";
}

struct Param {
  Client client;
  Case which;
};

void PrintTo(const Param& p, std::ostream* os) { *os << p.client.name << " " << case_name(p.which); }

std::vector<Param> params() {
  std::vector<Param> out;
  for (const auto& c : clients())
    for (Case k : {Case::Redirect, Case::PodIdentityHost, Case::Rejection, Case::Throttle, Case::Outage, Case::Timeout,
                   Case::ChainMovesOn})
      if (k != Case::ChainMovesOn || c.chain) out.push_back({c, k});
  return out;
}

// Each language's setup is idempotent and quick once done (see its setup.sh).
std::string setup(const std::string& language) {
  std::vector<std::string> argv;
  if (language == "go") argv = {E2E_SDK_DIR "/go/build.sh", SDK_GO_BIN};
  else if (language == "python") argv = {E2E_SDK_DIR "/python/setup.sh"};
  else if (language == "java") argv = {E2E_SDK_DIR "/java/setup.sh"};
  else argv = {E2E_SETUP};
  CommandResult r = run_command(argv, CommandOptions{.input = {}, .timeout = 290s});
  return r.ok() ? "" : "setup of " + language + " failed: " + describe(r);
}

std::vector<std::string> program(const std::string& language, std::string* why) {
  if (language == "go") return {SDK_GO_BIN};
  if (language == "python") return {E2E_SDK_DIR "/python/.venv/bin/python", E2E_SDK_DIR "/python/client.py"};
  if (language == "java")
    return {"java", "-XX:TieredStopAtLevel=1", "-Xshare:auto", "-cp",
            E2E_SDK_DIR "/java/target/classes:" E2E_SDK_DIR "/java/target/lib/*", "Client"};
  std::string node = node_20(why);
  if (node.empty()) return {};
  return {node, E2E_SDK_DIR "/node/client.mjs"};
}

class SdkClient : public Pod, public testing::WithParamInterface<Param> {
 protected:
  ProxySettings proxy_settings() const override {
    ProxySettings s;
    const Param& p = GetParam();
    switch (p.which) {
      case Case::PodIdentityHost: s.redirect = false; break;
      case Case::Rejection: if (!p.client.names_client) s.client_id = kUnknownClient; break;
      // Entra's failures reach the client at once instead of being retried away inside the proxy.
      case Case::Throttle: case Case::Outage: case Case::Timeout: s.args = {"--entra-timeout=1"}; break;
      case Case::ChainMovesOn: s.client_id = ""; break;
      default: break;
    }
    return s;
  }

  void SetUp() override {
    Pod::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    std::string failed = setup(GetParam().client.language);
    ASSERT_TRUE(failed.empty()) << failed;
    home_ = pod_->dir() + "/home";
    std::filesystem::create_directories(home_);
    ASSERT_EQ(::chown(home_.c_str(), kAppUid, kAppUid), 0);
  }

  void TearDown() override {
    if (!IsSkipped()) record();
    Pod::TearDown();
  }

  // Runs the client once as the application, with nothing but PATH, HOME and `extra_env`; parses its JSON line.
  json::object run(const std::string& client_id, std::vector<std::string> extra_env = {}) {
    const Client& c = GetParam().client;
    std::string why;
    std::vector<std::string> argv = program(c.language, &why);
    if (argv.empty()) {
      ADD_FAILURE() << why;
      return {};
    }
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    argv.push_back(kVault);
    if (c.names_client) argv.push_back(client_id);
    extra_env.push_back("HOME=" + home_);
    CommandResult r = pod_->exec(clean_env(extra_env, argv), ExecOptions().as_user(kAppUid).with_timeout(120s));
    std::string line = r.out.substr(0, r.out.find('\n'));
    boost::system::error_code ec;
    json::value v = json::parse(line, ec);
    if (ec || !v.is_object()) {
      ADD_FAILURE() << "the client printed no result line: " << describe(r) << "\nproxy:\n" << proxy_->output();
      return {};
    }
    outcome_ = v.as_object();
    return outcome_;
  }

  // The client got the emulator's token for our identity and the vault, valid for about the hour Entra grants.
  void expect_token(const json::object& o) {
    ASSERT_TRUE(o.contains("ok") && o.at("ok").as_bool()) << json::serialize(o) << "\nproxy:\n" << proxy_->output();
    const auto& claims = o.at("claims").as_object();
    EXPECT_EQ(claims.at("aud").as_string(), kVault);
    EXPECT_EQ(claims.at("appid").as_string(), kClient);
    EXPECT_EQ(claims.at("tid").as_string(), kTenant);
    EXPECT_EQ(claims.at("iss").as_string(), kEntraUrl + kTenant + "/v2.0");
    double expires = o.at("expires_on").to_number<double>();
    EXPECT_NEAR(expires, static_cast<double>(std::time(nullptr)) + 3600, 120) << "expires_on as the SDK read it";
  }

  std::string error_of(const json::object& o) const {
    auto it = o.find("error");
    return it == o.end() ? "" : std::string(it->value().as_string());
  }

  // Token requests the emulator received for a client ID (faulted ones included).
  long exchanges_for(const std::string& client_id) const {
    long n = 0;
    json::value log = emulator_get("_emulator/requests");
    for (const auto& r : log.as_array()) {
      const auto& form = r.as_object().at("form").as_object();
      if (auto it = form.find("client_id"); it != form.end() && it->value().as_string() == client_id) ++n;
    }
    return n;
  }

  void note(std::string text) { note_ = std::move(text); }

  void record() const {
    const Param& p = GetParam();
    json::object r{{"client", p.client.name},
                   {"language", p.client.language},
                   {"case", case_name(p.which)},
                   {"path", p.which == Case::PodIdentityHost ? "AZURE_POD_IDENTITY_AUTHORITY_HOST" : "redirect"},
                   {"passed", !HasFailure()},
                   {"note", note_}};
    for (const char* k : {"library", "version", "ok", "ms", "error_type"})
      if (auto it = outcome_.find(k); it != outcome_.end()) r[k] = it->value();
    std::filesystem::create_directories(SDK_RESULTS_DIR);
    std::ofstream(std::string(SDK_RESULTS_DIR) + "/" + p.client.name + "." + case_name(p.which) + ".json")
        << json::serialize(r) << "\n";
  }

  std::string home_;
  json::object outcome_;
  std::string note_;
};

TEST_P(SdkClient, Case) {
  const Client& c = GetParam().client;
  switch (GetParam().which) {
    case Case::Redirect: {
      // No AZURE_* variables, no endpoint: the client finds IMDS at 169.254.169.254 and the redirect sends it to us.
      expect_token(run(kClient));
      expect_one_exchange_with_the_pods_token();
      EXPECT_GE(proxy_requests("token", "200"), 1);
      note("token for the pod's identity, exchanged once with the pod's service-account token");
      break;
    }
    case Case::PodIdentityHost: {
      // No redirect: a client that honours the variable reaches the proxy at its address, one that does not asks
      // the node's IMDS, which refuses identity tokens.
      auto o = run(kClient, {"AZURE_POD_IDENTITY_AUTHORITY_HOST=" + kProxyUrl});
      if (c.honours_pod_identity_host) {
        expect_token(o);
        EXPECT_GE(proxy_requests("token", "200"), 1);
        note("honoured: asked " + kProxyUrl);
      } else {
        EXPECT_FALSE(o.contains("ok") && o.at("ok").as_bool()) << json::serialize(o);
        EXPECT_EQ(proxy_requests("token"), 0) << "the library reached the proxy: it honours the variable";
        EXPECT_NE(error_of(o).find(kImdsRefusesTokens), std::string::npos) << error_of(o);
        note("not honoured: the library asks 169.254.169.254 regardless");
      }
      break;
    }
    case Case::Rejection: {
      auto o = run(kUnknownClient);
      EXPECT_FALSE(o.contains("ok") && o.at("ok").as_bool()) << json::serialize(o);
      EXPECT_NE(error_of(o).find("AADSTS700016"), std::string::npos) << "the AADSTS text is lost: " << error_of(o);
      // A rejection is final: no SDK retries a 400, so Entra sees the one request (the proxy does not retry it).
      long attempts = exchanges_for(kUnknownClient);
      EXPECT_EQ(attempts, 1) << "requests to Entra for the unknown client";
      note("error type " + (o.contains("error_type") ? std::string(o.at("error_type").as_string()) : "?") +
           " with AADSTS700016, " + std::to_string(attempts) + " request(s) to Entra");
      break;
    }
    case Case::Throttle:
    case Case::Outage: {
      bool throttle = GetParam().which == Case::Throttle;
      emulator_faults(throttle ? R"({"outage_seconds":3,"outage_status":429,"retry_after":1})"
                               : R"({"outage_seconds":3})");
      auto o = run(kClient);
      expect_token(o);
      std::string code = throttle ? "429" : "503";
      long failed = proxy_requests("token", code);
      EXPECT_GE(failed, 1) << "the client never saw the " << code;
      note("retried past " + std::to_string(failed) + " x " + code + " (a 3 s " + (throttle ? "throttle" : "outage") +
           "), then got its token");
      break;
    }
    case Case::Timeout: {
      // Entra answers after 3 s for 4 s: the proxy (--entra-timeout=1) answers 504 until it recovers.
      emulator_faults(R"({"latency_ms":3000})");
      std::thread recover([this] {
        std::this_thread::sleep_for(4s);
        emulator_faults("{}");
      });
      auto o = run(kClient);
      recover.join();
      expect_token(o);
      long timeouts = proxy_requests("token", "504");
      EXPECT_GE(timeouts, 1) << "the client never saw a 504";
      note("retried past " + std::to_string(timeouts) + " x 504, then got its token");
      break;
    }
    case Case::ChainMovesOn: {
      // The proxy has no AZURE_CLIENT_ID and the client names none: the proxy's 400 makes ManagedIdentityCredential
      // unavailable, and the chain goes on to its next credential (which has nothing either, here).
      auto o = run("");
      EXPECT_FALSE(o.contains("ok") && o.at("ok").as_bool()) << json::serialize(o);
      EXPECT_GE(proxy_requests("token", "400"), 1) << "ManagedIdentityCredential never asked the proxy";
      EXPECT_NE(error_of(o).find(c.next_credential), std::string::npos)
          << "the chain stopped at ManagedIdentityCredential: " << error_of(o);
      note("ManagedIdentityCredential unavailable, chain went on to " + c.next_credential);
      break;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Matrix, SdkClient, testing::ValuesIn(params()), [](const auto& info) {
  return info.param.client.name + "_" + case_name(info.param.which);
});

}  // namespace
