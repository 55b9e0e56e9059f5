// End to end: a pod built out of network namespaces. A "node" namespace owns 169.254.169.254 (the emulator's IMDS
// instance responder) and the emulator's Entra ID endpoint; a "pod" namespace, joined to it by a veth pair, gets
// azwi-proxy-init's rules, then azwi-proxy as UID 1501, then applications as UID 1000 that know nothing but IMDS.
// Neither namespace has a default route, so no packet can leave them. Needs root; skipped with the reason otherwise.
#include "pod.hpp"

using namespace azwi::e2e;

namespace {

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
