// azwi-proxy with the AKS custom token endpoint (AZURE_KUBERNETES_*, upstream v1.6.0) against the real
// azwi-emulator's token proxy listener: its own CA, a certificate for a server name that is not its address, the
// exchange forwarded to the Entra role. The proxy's Entra authority points nowhere, so every token proves the
// exchange went to the token endpoint; the settings the SDKs refuse stop the proxy at start. Go azidentity's
// WorkloadIdentityCredential, which reads the same variables, gets a token through the same listener.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <filesystem>
#include <thread>

#include "jwt/jws.hpp"
#include "proxy/emulator_fixture.hpp"
#include "proxy/proxy_fixture.hpp"

using namespace azwi;
using namespace azwi::test;
using namespace std::chrono_literals;

namespace {
const std::string kAudience = "api://AKSIdentityBinding";
const std::string kName = "binding.azwi.test";
}  // namespace

class CustomTokenEndpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    emulator = std::make_unique<EmulatorProcess>(
        dir, kTenant, kClient,
        std::vector<std::string>{"--audience=" + kAudience, "--token-proxy-listen=127.0.0.1:0",
                                 "--token-proxy-name=" + kName, "--token-proxy-path=/base",
                                 "--token-proxy-ready-file=" + dir.file("tp.url")});
    auto url = wait_for_file(dir.file("tp.url"), 10s);
    ASSERT_TRUE(url) << emulator->process().output();
    token_proxy = *url;
    while (!token_proxy.empty() && token_proxy.back() == '\n') token_proxy.pop_back();
    ca_file = dir.file("emulator") + "/token-proxy/ca.crt";
    token_file = dir.file("azure-identity-token");
    emulator->mint(token_file, "workload-identity-sa", "default", kAudience);
  }
  // The environment the webhook gives an opted-in pod's sidecar, with `changes` applied ("" removes a variable).
  std::map<std::string, std::string> pod_env(std::map<std::string, std::string> changes = {}) {
    std::map<std::string, std::string> env{{"AZURE_TENANT_ID", kTenant},
                                           {"AZURE_CLIENT_ID", kClient},
                                           {"AZURE_FEDERATED_TOKEN_FILE", token_file},
                                           {"AZURE_AUTHORITY_HOST", "https://127.0.0.1:1/"},
                                           {"AZURE_KUBERNETES_TOKEN_PROXY", token_proxy + "base"},
                                           {"AZURE_KUBERNETES_SNI_NAME", kName},
                                           {"AZURE_KUBERNETES_CA_FILE", ca_file}};
    for (auto& [k, v] : changes) {
      if (v.empty()) {
        env.erase(k);
      } else {
        env[k] = v;
      }
    }
    return env;
  }
  std::pair<int, std::string> exit_of(std::map<std::string, std::string> env) {
    ChildProcess p({AZWI_PROXY_BIN, "--proxy-port=" + std::to_string(free_port())}, env, dir.file("bad.log"));
    auto code = p.wait_exit(10s);
    return {code.value_or(-999), p.output()};
  }
  TempDir dir{"azwi-proxy-token-endpoint"};
  std::unique_ptr<EmulatorProcess> emulator;
  std::string token_proxy, ca_file, token_file;
};

TEST_F(CustomTokenEndpoint, TheExchangeGoesToTheTokenEndpointUnderItsPathWithItsServerNameAndCA) {
  ProxyProcess proxy(dir, {pod_env(), {"--imds-endpoint=http://127.0.0.1:1"}});
  auto r = proxy.get_token(kVault);
  ASSERT_EQ(r.status, 200) << r.body << proxy.process().output();
  auto claims = jwt::parse(std::string(boost::json::parse(r.body).at("access_token").as_string())).claims;
  EXPECT_EQ(claims.at("appid").as_string(), kClient);
  auto log = emulator->requests();
  ASSERT_EQ(log.size(), 1u);
  // The token request's own path, joined under the token proxy URL's path (/base, which the emulator's token proxy
  // takes off: a request outside it would have been a 404).
  EXPECT_EQ(log[0].at("path").as_string(), "/" + kTenant + "/oauth2/v2.0/token");
  EXPECT_EQ(log[0].at("listener").as_string(), "token-proxy");
  EXPECT_NE(proxy.process().output().find(R"("tokenProxy":")" + token_proxy + R"(base/","sniName":"binding.azwi.test")"),
            std::string::npos)
      << proxy.process().output();
}

TEST_F(CustomTokenEndpoint, InlineCADataWorksLikeTheFile) {
  std::string pem = read_file(ca_file);
  ProxyProcess proxy(dir, {pod_env({{"AZURE_KUBERNETES_CA_FILE", ""}, {"AZURE_KUBERNETES_CA_DATA", pem}}),
                           {"--imds-endpoint=http://127.0.0.1:1"}});
  auto r = proxy.get_token(kVault);
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(CustomTokenEndpoint, WithoutTheServerNameOrTheCATheHandshakeFailsAndNothingGoesToEntra) {
  // The certificate names binding.azwi.test, not 127.0.0.1: the URL's host alone does not verify.
  ProxyProcess no_sni(dir, {pod_env({{"AZURE_KUBERNETES_SNI_NAME", ""}}), {"--imds-endpoint=http://127.0.0.1:1"}});
  auto r = no_sni.get_token(kVault);
  EXPECT_GE(r.status, 500) << r.body;
  EXPECT_NE(r.body.find("TLS handshake with 127.0.0.1 failed"), std::string::npos) << r.body;
  // The system store does not hold the token proxy's CA.
  ProxyProcess no_ca(dir, {pod_env({{"AZURE_KUBERNETES_CA_FILE", ""}}), {"--imds-endpoint=http://127.0.0.1:1"}});
  r = no_ca.get_token(kVault);
  EXPECT_GE(r.status, 500) << r.body;
  EXPECT_NE(r.body.find("TLS handshake with 127.0.0.1 (as binding.azwi.test) failed"), std::string::npos) << r.body;
  EXPECT_EQ(emulator->requests().size(), 0u);
}

TEST_F(CustomTokenEndpoint, ARotatedCAFileIsReadAgainAndAnEmptyOneKeepsTheLastGood) {
  std::string copy = dir.file("ca-copy.crt");
  std::string pem = read_file(ca_file);
  write_file(copy, pem);
  ProxyProcess proxy(dir, {pod_env({{"AZURE_KUBERNETES_CA_FILE", copy}}), {"--imds-endpoint=http://127.0.0.1:1"}});
  ASSERT_EQ(proxy.get_token(kVault).status, 200);
  // Mid-rotation the kubelet may leave the file empty: the last good CA is kept.
  write_file(copy, "");
  std::this_thread::sleep_for(1100ms);  // the client looks at the file at most once a second
  ASSERT_EQ(proxy.get_token("api-version=2018-02-01&resource=https%3A%2F%2Fstorage.azure.com").status, 200);
  // A CA that does not sign the token proxy's certificate (the emulator's main CA) is taken up and then refused.
  write_file(copy, read_file(emulator->ca_file()));
  std::this_thread::sleep_for(1100ms);
  auto r = proxy.get_token("api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com");
  EXPECT_GE(r.status, 500) << r.body;
  EXPECT_NE(r.body.find("TLS handshake"), std::string::npos) << r.body;
  // And the right one again.
  write_file(copy, pem);
  std::this_thread::sleep_for(1100ms);
  EXPECT_EQ(proxy.get_token("api-version=2018-02-01&resource=https%3A%2F%2Fgraph.microsoft.com").status, 200);
}

TEST_F(CustomTokenEndpoint, SettingsTheSDKsRefuseStopTheProxyAtStartNamingThem) {
  for (auto [changes, problem] : std::vector<std::pair<std::map<std::string, std::string>, std::string>>{
           {{{"AZURE_KUBERNETES_TOKEN_PROXY", "http://127.0.0.1:1/"}}, "its scheme is http"},
           {{{"AZURE_KUBERNETES_TOKEN_PROXY", "https://user@127.0.0.1:1/"}}, "user info"},
           {{{"AZURE_KUBERNETES_TOKEN_PROXY", "https://127.0.0.1:1/?a=b"}}, "query"},
           {{{"AZURE_KUBERNETES_TOKEN_PROXY", "https://127.0.0.1:1/#f"}}, "fragment"},
           {{{"AZURE_KUBERNETES_TOKEN_PROXY", ""}}, "AZURE_KUBERNETES_SNI_NAME is set without AZURE_KUBERNETES_TOKEN_PROXY"},
           {{{"AZURE_KUBERNETES_TOKEN_PROXY", ""}, {"AZURE_KUBERNETES_SNI_NAME", ""}},
            "AZURE_KUBERNETES_CA_FILE is set without AZURE_KUBERNETES_TOKEN_PROXY"},
           {{{"AZURE_KUBERNETES_CA_DATA", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}},
            "AZURE_KUBERNETES_CA_FILE and AZURE_KUBERNETES_CA_DATA are both set"},
           {{{"AZURE_KUBERNETES_CA_FILE", ""}, {"AZURE_KUBERNETES_CA_DATA", "not a certificate"}},
            "AZURE_KUBERNETES_CA_DATA holds no PEM certificate"}}) {
    auto [code, output] = exit_of(pod_env(changes));
    EXPECT_EQ(code, 1) << problem << ": " << output;
    EXPECT_NE(output.find(problem), std::string::npos) << problem << " not in: " << output;
  }
}

// The JSON line the Go client printed last (its stderr shares the log).
boost::json::object last_json_line(const std::string& output) {
  auto end = output.find_last_of('}');
  auto start = end == std::string::npos ? std::string::npos : output.rfind("\n{", end);
  start = start == std::string::npos ? 0 : start + 1;
  boost::system::error_code ec;
  auto v = boost::json::parse(output.substr(start, end == std::string::npos ? 0 : end - start + 1), ec);
  return !ec && v.is_object() ? v.as_object() : boost::json::object{};
}

TEST_F(CustomTokenEndpoint, GoAzidentityWorkloadIdentityCredentialGetsItsTokenThroughTheEmulatorTokenProxy) {
  ChildProcess build({SDK_GO_BUILD, SDK_GO_BIN}, {}, dir.file("go-build.log"));
  ASSERT_EQ(build.wait_exit(280s), 0) << build.output();
  // MSAL checks the discovery document's issuer against the authority: here the emulator's own URL, which the
  // SDK's transport rewrites to the token proxy (the request log names the listener each request came through).
  auto env = pod_env({{"AZURE_AUTHORITY_HOST", emulator->url()}});
  env["HOME"] = dir.path();
  ChildProcess client({SDK_GO_BIN, "azidentity-workload-proxy", "https://vault.azure.net"}, env, dir.file("go.log"));
  ASSERT_EQ(client.wait_exit(120s), 0) << client.output();
  auto line = last_json_line(client.output());
  ASSERT_TRUE(line.contains("ok")) << client.output();
  EXPECT_EQ(line.at("ok").as_bool(), true) << client.output();
  EXPECT_EQ(line.at("claims").at("appid").as_string(), kClient) << client.output();
  auto log = emulator->requests();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].at("path").as_string(), "/" + kTenant + "/oauth2/v2.0/token");
  EXPECT_EQ(log[0].at("listener").as_string(), "token-proxy");
}
