// The SDK compatibility matrix: real Azure SDK clients (tests/sdk/<language>/, each a tiny program printing one JSON
// line) run unmodified as the application of the e2e pod (tests/e2e/pod.hpp), one pod per client and case: through
// the iptables redirect, through AZURE_POD_IDENTITY_AUTHORITY_HOST, through the identity-endpoint mode, and their
// reactions to Entra's rejection, to throttling, to an outage, to a timeout and, for DefaultAzureCredential, to an
// identity the proxy cannot serve. ctest runs one entry per client (run_client.sh: its cases side by side).
// Each case writes its outcome to SDK_RESULTS_DIR; tests/sdk/matrix.py turns those into docs/compatibility.md.
// Needs root (network namespaces); skipped with the reason otherwise.
#include <algorithm>
#include <boost/json/object.hpp>
#include <ctime>

#include "pod.hpp"

using namespace azwi::e2e;

namespace {

// Not in the emulator's directory: Entra answers AADSTS700016 for it.
const std::string kUnknownClient = "0badc11e-0000-4000-8000-00000000dead";
const std::string kProxyUrl = "http://127.0.0.1:" + std::to_string(kProxyPort);
const std::string kIdentityEndpoint = kProxyUrl + "/msi/token";
const std::string kIdentitySecret = "c2VjcmV0LW9mLXRoaXMtcG9kLW5vdC1hbm90aGVyLW9uZQ";

struct Client {
  std::string name;      // also the ctest suffix
  std::string title;     // what docs/compatibility.md calls it
  std::string language;  // which setup to run: go, python, java, node, az
  std::vector<std::string> args;  // mode and how to name the identity; the runner adds program, resource, client ID
  bool names_client = false;  // passes the client ID (else: the system default, i.e. the proxy's AZURE_CLIENT_ID)
  bool chain = false;         // DefaultAzureCredential: unavailable credentials hand over to the next one
  bool honours_pod_identity_host = false;  // what the library's source says; the PodIdentityHost case checks it
  std::string next_credential{};   // chain only: a credential after ManagedIdentityCredential
  // What the chain's error carries from that credential: any one of these (it depends on whether `az` is installed
  // yet: the az client's setup installs it, maybe after this client ran).
  std::vector<std::string> next_says{};
  bool keeps_aadsts = true;        // a rejection's error carries Entra's AADSTS text
  int exchanges = 1;               // token exchanges one run makes (az login gets a token for ARM first)
  bool knows_identity_endpoint = true;  // reads IDENTITY_ENDPOINT/IDENTITY_HEADER (the IdentityEndpoint case checks)
};

const std::vector<Client>& clients() {
  static const std::vector<Client> all{
      {.name = "go_azidentity_mi", .title = "azidentity ManagedIdentityCredential (client ID)", .language = "go",
       .args = {"azidentity-mi"}, .names_client = true},
      {.name = "go_azidentity_mi_system", .title = "azidentity ManagedIdentityCredential (system default)",
       .language = "go", .args = {"azidentity-mi"}},
      {.name = "go_azidentity_default", .title = "azidentity DefaultAzureCredential", .language = "go",
       .args = {"azidentity-default"}, .chain = true, .next_credential = "AzureCLICredential",
       .next_says = {"AzureCLICredential:"}},
      {.name = "go_adal_msi", .title = "adal NewServicePrincipalTokenFromManagedIdentity (client ID)", .language = "go",
       .args = {"adal-msi"}, .names_client = true, .knows_identity_endpoint = false},
      {.name = "python_mi", .title = "azure-identity ManagedIdentityCredential (client ID)", .language = "python",
       .args = {"mi"}, .names_client = true, .honours_pod_identity_host = true},
      {.name = "python_default", .title = "azure-identity DefaultAzureCredential", .language = "python",
       .args = {"default"}, .chain = true, .honours_pod_identity_host = true, .next_credential = "AzureCliCredential",
       .next_says = {"AzureCliCredential:"}},
      {.name = "java_mi", .title = "azure-identity ManagedIdentityCredential (client ID)", .language = "java",
       .args = {"mi"}, .names_client = true, .honours_pod_identity_host = true},
      {.name = "node_mi", .title = "@azure/identity ManagedIdentityCredential (client ID)", .language = "node",
       .args = {"mi"}, .names_client = true, .honours_pod_identity_host = true},
      {.name = "node_default", .title = "@azure/identity DefaultAzureCredential", .language = "node",
       .args = {"default"}, .chain = true, .honours_pod_identity_host = true, .next_credential = "AzureCliCredential",
       .next_says = {"Please run 'az login'", "Azure CLI could not be found"}},
      // az 2.45 sniffs a --username it cannot log in with as an object ID next, and then says only "Failed to
      // connect to MSI": Entra's text does not reach the user.
      {.name = "az_login_identity", .title = "az login --identity --username + az account get-access-token",
       .language = "az", .args = {"identity"}, .names_client = true, .keeps_aadsts = false, .exchanges = 2,
       .knows_identity_endpoint = false},
  };
  return all;
}

enum class Case { Redirect, PodIdentityHost, IdentityEndpoint, Rejection, Throttle, Outage, Timeout, ChainMovesOn };

const char* case_name(Case c) {
  switch (c) {
    case Case::Redirect: return "Redirect";
    case Case::PodIdentityHost: return "PodIdentityHost";
    case Case::IdentityEndpoint: return "IdentityEndpoint";
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
    for (Case k : {Case::Redirect, Case::PodIdentityHost, Case::IdentityEndpoint, Case::Rejection, Case::Throttle,
                   Case::Outage, Case::Timeout, Case::ChainMovesOn})
      if (k != Case::ChainMovesOn || c.chain) out.push_back({c, k});
  return out;
}

// Each language's setup is idempotent and quick once done (see its setup.sh).
std::string setup(const std::string& language) {
  std::vector<std::string> argv;
  if (language == "go") argv = {E2E_SDK_DIR "/go/build.sh", SDK_GO_BIN};
  else if (language == "python") argv = {E2E_SDK_DIR "/python/setup.sh"};
  else if (language == "java") argv = {E2E_SDK_DIR "/java/setup.sh"};
  else if (language == "az") argv = {E2E_SDK_DIR "/az/setup.sh"};
  else argv = {E2E_SETUP};
  // A first install can take minutes (Debian's azure-cli about 4), and cases of one client wait on its lock.
  CommandResult r = run_command(argv, CommandOptions{.input = {}, .timeout = 500s});
  return r.ok() ? "" : "setup of " + language + " failed: " + describe(r);
}

std::vector<std::string> program(const std::string& language, std::string* why) {
  if (language == "go") return {SDK_GO_BIN};
  if (language == "python") return {E2E_SDK_DIR "/python/.venv/bin/python", E2E_SDK_DIR "/python/client.py"};
  if (language == "java")
    return {"java", "-XX:TieredStopAtLevel=1", "-Xshare:auto", "-cp",
            E2E_SDK_DIR "/java/target/classes:" E2E_SDK_DIR "/java/target/lib/*", "Client"};
  if (language == "az") return {E2E_SDK_DIR "/az/client.sh"};
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
      // The webhook's identity-endpoint mode: no redirect; the sidecar checks the pod's secret.
      case Case::IdentityEndpoint:
        s.redirect = false;
        s.env = {"IDENTITY_HEADER=" + kIdentitySecret};
        break;
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
    if (GetParam().client.language == "az") start_arm();
  }

  // `az login` lists subscriptions from Resource Manager: a stand-in on the node, with the emulator's certificate.
  void start_arm() {
    arm_ = node_->spawn({"/usr/bin/python3", E2E_SDK_DIR "/az/arm_stub.py", kNodeIp, std::to_string(kArmPort),
                         state_dir() + "/server.crt", state_dir() + "/server.key"});
    ASSERT_TRUE(node_->wait_for_listen(kArmPort, 10s)) << arm_->output();
    CommandResult cloud = pod_->exec(clean_env({"HOME=" + home_, "AZWI_ARM_URL=" + arm_url()},
                                               {E2E_SDK_DIR "/az/client.sh", "cloud"}),
                                     ExecOptions().as_user(kAppUid).with_timeout(60s));
    ASSERT_TRUE(cloud.ok()) << describe(cloud);
  }

  std::string arm_url() const { return "https://" + kNodeIp + ":" + std::to_string(kArmPort) + "/"; }

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
    if (c.language == "az") extra_env.push_back("REQUESTS_CA_BUNDLE=" + ca_file_);
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

  // Every request Entra received was the proxy's client assertion with the pod's token, `n` of them.
  void expect_exchanges_with_the_pods_token(int n) const {
    json::value log = emulator_get("_emulator/requests");
    ASSERT_EQ(log.as_array().size(), static_cast<std::size_t>(n)) << json::serialize(log);
    for (const auto& r : log.as_array()) {
      const auto& form = r.as_object().at("form").as_object();
      EXPECT_EQ(form.at("client_id").as_string(), kClient);
      EXPECT_EQ(form.at("client_assertion_sha256").as_string(), azwi::jwt::sha256_hex(sa_token_));
    }
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
                   {"title", p.client.title},
                   {"language", p.client.language},
                   {"case", case_name(p.which)},
                   {"path", p.which == Case::PodIdentityHost    ? "AZURE_POD_IDENTITY_AUTHORITY_HOST"
                            : p.which == Case::IdentityEndpoint ? "IDENTITY_ENDPOINT"
                                                                : "redirect"},
                   {"passed", !HasFailure()},
                   {"note", HasFailure() ? std::string("failed: see the test's log") : note_},
                   {"failed_answers", count_}};
    if (!HasFailure() && !cell_.empty()) r["cell"] = cell_;
    for (const char* k : {"library", "version", "ok", "ms", "error_type"})
      if (auto it = outcome_.find(k); it != outcome_.end()) r[k] = it->value();
    std::filesystem::create_directories(SDK_RESULTS_DIR);
    std::ofstream(std::string(SDK_RESULTS_DIR) + "/" + p.client.name + "." + case_name(p.which) + ".json")
        << json::serialize(r) << "\n";
  }

  static constexpr int kArmPort = 8444;
  std::shared_ptr<Process> arm_;
  std::string home_;
  json::object outcome_;
  std::string note_;
  long count_ = 0;     // error answers the client retried past
  std::string cell_;   // docs/compatibility.md's cell when "pass" alone would hide what the test saw
};

TEST_P(SdkClient, Case) {
  const Client& c = GetParam().client;
  switch (GetParam().which) {
    case Case::Redirect: {
      // No AZURE_* variables, no endpoint: the client finds IMDS at 169.254.169.254 and the redirect sends it to us.
      expect_token(run(kClient));
      expect_exchanges_with_the_pods_token(c.exchanges);
      EXPECT_GE(proxy_requests("token", "200"), 1);
      note("token for the pod's identity, exchanged once with the pod's service-account token");
      break;
    }
    case Case::PodIdentityHost: {
      // No redirect: a client that honours the variable reaches the proxy at its address, one that does not asks
      // the node's IMDS, which refuses identity tokens (az 2.45 says only "Failed to connect to MSI" then).
      auto o = run(kClient, {"AZURE_POD_IDENTITY_AUTHORITY_HOST=" + kProxyUrl});
      if (c.honours_pod_identity_host) {
        expect_token(o);
        EXPECT_GE(proxy_requests("token", "200"), 1);
        note("honoured: asked " + kProxyUrl);
        cell_ = "pass: honoured";
      } else {
        EXPECT_FALSE(o.contains("ok") && o.at("ok").as_bool()) << json::serialize(o);
        EXPECT_EQ(proxy_requests("token"), 0) << "the library reached the proxy: it honours the variable";
        if (c.keeps_aadsts) {
          EXPECT_NE(error_of(o).find(kImdsRefusesTokens), std::string::npos) << error_of(o);
        }
        note("not honoured: the library asks 169.254.169.254 regardless");
        cell_ = "pass: ignored";
      }
      break;
    }
    case Case::IdentityEndpoint: {
      // Only the two variables the webhook adds in identity-endpoint mode (with the AZURE_* ones as well, Python,
      // Node and Java exchange the pod's token themselves and never ask): the library speaks the App Service
      // protocol to the sidecar, or, knowing only 169.254.169.254, asks the node's IMDS, which refuses.
      auto o = run(kClient, {"IDENTITY_ENDPOINT=" + kIdentityEndpoint, "IDENTITY_HEADER=" + kIdentitySecret});
      if (c.knows_identity_endpoint) {
        expect_token(o);
        EXPECT_GE(proxy_requests("identity-endpoint", "200"), 1);
        // The secret is what lets it in: the same request with another one is refused, and the library says so.
        auto refused = run(kClient, {"IDENTITY_ENDPOINT=" + kIdentityEndpoint, "IDENTITY_HEADER=guessed"});
        EXPECT_FALSE(refused.contains("ok") && refused.at("ok").as_bool()) << json::serialize(refused);
        EXPECT_GE(proxy_requests("identity-endpoint", "401"), 1);
        note("App Service protocol to " + kIdentityEndpoint + "; a wrong IDENTITY_HEADER is refused (401)");
        cell_ = "pass: served";
      } else {
        EXPECT_FALSE(o.contains("ok") && o.at("ok").as_bool()) << json::serialize(o);
        EXPECT_EQ(proxy_requests("identity-endpoint"), 0) << "the library reached the endpoint: it knows it";
        note("not reached: the library asks 169.254.169.254 regardless (needs init-container or cni mode)");
        cell_ = "pass: ignored";
      }
      outcome_ = o;
      break;
    }
    case Case::Rejection: {
      auto o = run(kUnknownClient);
      EXPECT_FALSE(o.contains("ok") && o.at("ok").as_bool()) << json::serialize(o);
      if (c.keeps_aadsts)
        EXPECT_NE(error_of(o).find("AADSTS700016"), std::string::npos) << "the AADSTS text is lost: " << error_of(o);
      else
        EXPECT_EQ(error_of(o).find("AADSTS700016"), std::string::npos) << "the AADSTS text now reaches the user";
      // A rejection is final: no SDK retries a 400, so Entra sees the one request (the proxy does not retry it).
      long attempts = exchanges_for(kUnknownClient);
      EXPECT_EQ(attempts, 1) << "requests to Entra for the unknown client";
      note((o.contains("error_type") ? std::string(o.at("error_type").as_string()) : "an error") +
           (c.keeps_aadsts ? " carrying AADSTS700016" : " without Entra's text (the CLI's own message)") +
           "; one request to Entra, no retry");
      if (!c.keeps_aadsts) cell_ = "pass: AADSTS text lost";
      break;
    }
    case Case::Throttle:
    case Case::Outage: {
      bool throttle = GetParam().which == Case::Throttle;
      // Entra fails the next two requests, whenever they come (the programs' start-up times differ by seconds).
      emulator_faults(throttle ? R"({"fail_next":2,"fail_status":429,"retry_after":1})"
                               : R"({"fail_next":2,"fail_status":503})");
      auto o = run(kClient);
      expect_token(o);
      std::string code = throttle ? "429" : "503";
      long failed = proxy_requests("token", code);
      EXPECT_GE(failed, 1) << "the client never saw the " << code;
      count_ = failed;
      note(std::string("retried past the proxy's ") + code + (throttle ? " + Retry-After" : "") +
           " (Entra failed twice), then got its token");
      break;
    }
    case Case::Timeout: {
      // Entra answers after 3 s until the client has had a 504 from the proxy (--entra-timeout=1), then recovers.
      emulator_faults(R"({"latency_ms":3000})");
      std::thread recover([this] {
        auto deadline = std::chrono::steady_clock::now() + 60s;
        while (proxy_requests("token", "504") == 0 && std::chrono::steady_clock::now() < deadline)
          std::this_thread::sleep_for(200ms);
        emulator_faults("{}");
      });
      auto o = run(kClient);
      recover.join();
      expect_token(o);
      long timeouts = proxy_requests("token", "504");
      EXPECT_GE(timeouts, 1) << "the client never saw a 504";
      count_ = timeouts;
      note("retried past the proxy's 504 (Entra slower than the proxy's timeout), then got its token");
      break;
    }
    case Case::ChainMovesOn: {
      // The proxy has no AZURE_CLIENT_ID and the client names none: the proxy's 400 makes ManagedIdentityCredential
      // unavailable, and the chain goes on to its next credential (which has nothing either, here).
      auto o = run("");
      EXPECT_FALSE(o.contains("ok") && o.at("ok").as_bool()) << json::serialize(o);
      EXPECT_GE(proxy_requests("token", "400"), 1) << "ManagedIdentityCredential never asked the proxy";
      std::string error = error_of(o);
      EXPECT_TRUE(std::any_of(c.next_says.begin(), c.next_says.end(),
                              [&](const std::string& says) { return error.find(says) != std::string::npos; }))
          << "the chain stopped at ManagedIdentityCredential: " << error;
      note("ManagedIdentityCredential unavailable, chain went on to " + c.next_credential);
      break;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Matrix, SdkClient, testing::ValuesIn(params()), [](const auto& info) {
  return info.param.client.name + "_" + case_name(info.param.which);
});

// The benchmark of bench/sdk/run.sh (disabled in the suite): per client, the time its get-token call takes for a
// first token through the sidecar (a resource the proxy has not cached yet), for a token the sidecar has cached (a
// new process asking again), and for the same client going straight to the emulator's Entra with workload identity
// (every new process makes an exchange). Medians of kRounds; writes JSON to $AZWI_SDK_BENCH_OUT.
class SdkBench : public Pod {
 protected:
  struct Timing {
    double call_ms;  // the client's own figure: its get-token call
    double wall_ms;  // the process, start to exit (runtime start-up included)
  };

  Timing once(const std::vector<std::string>& argv, std::vector<std::string> env) {
    env.push_back("HOME=" + pod_->dir() + "/home");
    auto start = std::chrono::steady_clock::now();
    CommandResult r = pod_->exec(clean_env(env, argv), ExecOptions().as_user(kAppUid).with_timeout(60s));
    double wall = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    boost::system::error_code ec;
    json::value v = json::parse(r.out.substr(0, r.out.find('\n')), ec);
    if (ec || !v.is_object() || !v.as_object().at("ok").as_bool()) {
      ADD_FAILURE() << describe(r);
      return {0, wall};
    }
    return {v.as_object().at("ms").to_number<double>(), wall};
  }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

TEST_F(SdkBench, DISABLED_FirstCachedAndDirectTokenPerClient) {
  constexpr int kRounds = 5;
  std::string home = pod_->dir() + "/home";
  std::filesystem::create_directories(home);
  ASSERT_EQ(::chown(home.c_str(), kAppUid, kAppUid), 0);
  // Java reads the emulator's CA from a trust store.
  std::string store = pod_->dir() + "/trust.p12";
  CommandResult keytool = run_command({"keytool", "-importcert", "-noprompt", "-storetype", "PKCS12", "-keystore", store,
                                       "-storepass", "changeit", "-alias", "emulator", "-file", ca_file_});
  ASSERT_TRUE(keytool.ok()) << describe(keytool);
  ::chmod(store.c_str(), 0644);
  const std::vector<std::string> direct_env{"AZURE_TENANT_ID=" + kTenant, "AZURE_CLIENT_ID=" + kClient,
                                            "AZURE_FEDERATED_TOKEN_FILE=" + token_file_,
                                            "AZURE_AUTHORITY_HOST=" + kEntraUrl, "SSL_CERT_FILE=" + ca_file_,
                                            "REQUESTS_CA_BUNDLE=" + ca_file_, "NODE_EXTRA_CA_CERTS=" + ca_file_};
  struct Row {
    std::string client, language, sidecar_mode, direct_mode;
  };
  const std::vector<Row> rows{{"go azidentity", "go", "azidentity-mi", "azidentity-workload"},
                              {"go adal", "go", "adal-msi", ""},
                              {"python azure-identity", "python", "mi", "workload"},
                              {"java azure-identity", "java", "mi", "workload"},
                              {"node @azure/identity", "node", "mi", "workload"}};
  json::array out;
  int resource_n = 0;
  for (const Row& row : rows) {
    ASSERT_EQ(setup(row.language), "");
    std::string why;
    std::vector<std::string> prog = program(row.language, &why);
    ASSERT_FALSE(prog.empty()) << why;
    std::vector<double> first_call, first_wall, cached_call, cached_wall, direct_call, direct_wall;
    for (int i = 0; i < kRounds; ++i) {
      // A resource of its own: the sidecar has no token for it yet.
      std::string resource = "https://bench" + std::to_string(++resource_n) + ".azwi.test";
      auto argv = prog;
      argv.insert(argv.end(), {row.sidecar_mode, resource, kClient});
      Timing first = once(argv, {});
      Timing cached = once(argv, {});
      first_call.push_back(first.call_ms), first_wall.push_back(first.wall_ms);
      cached_call.push_back(cached.call_ms), cached_wall.push_back(cached.wall_ms);
      if (row.direct_mode.empty()) continue;
      auto direct = prog;
      if (row.language == "java")
        direct.insert(direct.begin() + 1, {"-Djavax.net.ssl.trustStore=" + store,
                                           "-Djavax.net.ssl.trustStorePassword=changeit"});
      direct.insert(direct.end(), {row.direct_mode, resource});
      Timing d = once(direct, direct_env);
      direct_call.push_back(d.call_ms), direct_wall.push_back(d.wall_ms);
    }
    json::object r{{"client", row.client},
                   {"first_call_ms", median(first_call)},   {"first_wall_ms", median(first_wall)},
                   {"cached_call_ms", median(cached_call)}, {"cached_wall_ms", median(cached_wall)}};
    if (!direct_call.empty()) {
      r["direct_call_ms"] = median(direct_call);
      r["direct_wall_ms"] = median(direct_wall);
    }
    out.push_back(std::move(r));
  }
  const char* path = std::getenv("AZWI_SDK_BENCH_OUT");
  ASSERT_NE(path, nullptr) << "set AZWI_SDK_BENCH_OUT";
  std::ofstream(path) << json::serialize(json::object{{"rounds", kRounds}, {"clients", std::move(out)}}) << "\n";
}

}  // namespace
