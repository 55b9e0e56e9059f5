// azwi-proxy against the real azwi-emulator over HTTPS: the exchange, the cache, rotation, error mapping, outage.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <csignal>
#include <future>
#include <thread>

#include "jwt/digest.hpp"
#include "jwt/jws.hpp"
#include "proxy/emulator_fixture.hpp"
#include "proxy/proxy_fixture.hpp"

using namespace azwi;
using namespace azwi::test;
using namespace std::chrono_literals;

namespace {

boost::json::object json_of(const http::ClientResponse& r) { return boost::json::parse(r.body).as_object(); }
std::string str(const boost::json::object& o, const char* k) { return std::string(o.at(k).as_string()); }
std::int64_t token_requests(EmulatorProcess& e) { return e.stats().at("token_requests").as_int64(); }
}  // namespace

class ProxyToken : public ::testing::Test {
 protected:
  void start(std::vector<std::string> emulator_args = {}, std::vector<std::string> proxy_args = {},
             std::map<std::string, std::string> env_changes = {}) {
    emulator = std::make_unique<EmulatorProcess>(dir, kTenant, kClient, std::move(emulator_args));
    token_file = dir.file("azure-identity-token");
    sa_token = emulator->mint(token_file);
    std::map<std::string, std::string> env{{"AZURE_TENANT_ID", kTenant},
                                           {"AZURE_CLIENT_ID", kClient},
                                           {"AZURE_FEDERATED_TOKEN_FILE", token_file},
                                           {"AZURE_AUTHORITY_HOST", emulator->url()},
                                           {"SSL_CERT_FILE", emulator->ca_file()}};
    for (auto& [k, v] : env_changes) env[k] = v;
    proxy_args.push_back("--imds-endpoint=http://127.0.0.1:1");
    proxy = std::make_unique<ProxyProcess>(dir, ProxyOptions{env, proxy_args});
  }
  TempDir dir{"azwi-proxy-token"};
  std::unique_ptr<EmulatorProcess> emulator;
  std::unique_ptr<ProxyProcess> proxy;
  std::string token_file;
  std::string sa_token;
};

TEST_F(ProxyToken, AnswersWithTheImdsShapeAndTheEntraToken) {
  start();
  auto t0 = std::time(nullptr);
  auto r = proxy->get_token(kVault);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("content-type"), "application/json; charset=utf-8");
  auto a = json_of(r);
  EXPECT_EQ(a.size(), 9u);
  for (const char* k : {"expires_in", "expires_on", "ext_expires_in", "not_before"}) EXPECT_TRUE(a.at(k).is_string()) << k;
  EXPECT_EQ(str(a, "resource"), "https://vault.azure.net");
  EXPECT_EQ(str(a, "client_id"), kClient);
  EXPECT_EQ(str(a, "token_type"), "Bearer");
  EXPECT_EQ(str(a, "refresh_token"), "");
  auto expires_in = std::stoll(str(a, "expires_in"));
  auto expires_on = std::stoll(str(a, "expires_on"));
  EXPECT_NEAR(expires_in, 3600, 2);
  EXPECT_NEAR(expires_on, t0 + 3600, 3);
  auto claims = jwt::parse(str(a, "access_token")).claims;
  EXPECT_EQ(claims.at("aud").as_string(), "https://vault.azure.net");
  EXPECT_EQ(claims.at("appid").as_string(), kClient);
  EXPECT_EQ(claims.at("tid").as_string(), kTenant);
}

TEST_F(ProxyToken, SendsExactlyTheClientAssertionForm) {
  start();
  ASSERT_EQ(proxy->get_token(kVault + "&client_id=" + kClient).status, 200);
  auto log = emulator->requests();
  ASSERT_EQ(log.size(), 1u);
  auto entry = log[0].as_object();
  EXPECT_EQ(entry.at("method").as_string(), "POST");
  EXPECT_EQ(entry.at("path").as_string(), "/" + kTenant + "/oauth2/v2.0/token");
  auto form = entry.at("form").as_object();
  EXPECT_EQ(form.at("client_id").as_string(), kClient);
  EXPECT_EQ(form.at("scope").as_string(), "https://vault.azure.net/.default");
  EXPECT_EQ(form.at("grant_type").as_string(), "client_credentials");
  EXPECT_EQ(form.at("client_assertion_type").as_string(), "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
  EXPECT_EQ(form.at("client_assertion_sha256").as_string(), jwt::sha256_hex(sa_token));
}

TEST_F(ProxyToken, ResourceWithATrailingSlashKeepsItInTheScopeAndTheAnswer) {
  start();
  auto r = proxy->get_token("api-version=2018-02-01&resource=http%3A%2F%2Fdatabase.windows.net%2F");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(str(json_of(r), "resource"), "http://database.windows.net/");
  auto form = emulator->requests()[0].as_object().at("form").as_object();
  EXPECT_EQ(form.at("scope").as_string(), "http://database.windows.net//.default");
}

TEST_F(ProxyToken, SecondRequestIsACacheHitWithExpiresInRecomputed) {
  start();
  auto first = json_of(proxy->get_token(kVault));
  std::this_thread::sleep_for(2100ms);
  auto second = json_of(proxy->get_token(kVault));
  EXPECT_EQ(str(first, "access_token"), str(second, "access_token"));
  EXPECT_EQ(str(first, "expires_on"), str(second, "expires_on"));
  EXPECT_LE(std::stoll(str(second, "expires_in")), std::stoll(str(first, "expires_in")) - 2);
  EXPECT_EQ(token_requests(*emulator), 1);
  // Another resource is another exchange.
  ASSERT_EQ(proxy->get_token("api-version=2018-02-01&resource=https%3A%2F%2Fstorage.azure.com").status, 200);
  EXPECT_EQ(token_requests(*emulator), 2);
}

TEST_F(ProxyToken, ConcurrentMissesMakeExactlyOneExchange) {
  start({"--latency-ms=400"});
  std::vector<std::future<long>> answers;
  for (int i = 0; i < 24; ++i)
    answers.push_back(std::async(std::launch::async, [&] { return proxy->get_token(kVault).status; }));
  for (auto& a : answers) EXPECT_EQ(a.get(), 200);
  EXPECT_EQ(token_requests(*emulator), 1);
}

TEST_F(ProxyToken, TheRotatedTokenFileIsUsedForTheNextExchange) {
  start();
  ASSERT_EQ(proxy->get_token(kVault).status, 200);
  std::this_thread::sleep_for(1100ms);  // a new iat, so the rotated token differs
  auto rotated = emulator->mint(token_file);
  ASSERT_NE(rotated, sa_token);
  ASSERT_EQ(proxy->get_token("api-version=2018-02-01&resource=https%3A%2F%2Fstorage.azure.com").status, 200);
  auto log = emulator->requests();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].as_object().at("form").as_object().at("client_assertion_sha256").as_string(), jwt::sha256_hex(sa_token));
  EXPECT_EQ(log[1].as_object().at("form").as_object().at("client_assertion_sha256").as_string(), jwt::sha256_hex(rotated));
}

TEST_F(ProxyToken, AnUnknownClientIsA400WithEntrasAadstsText) {
  start();
  auto r = proxy->get_token(kVault + "&client_id=99999999-0000-0000-0000-000000000000");
  EXPECT_EQ(r.status, 400);
  auto e = json_of(r);
  EXPECT_EQ(str(e, "error"), "unauthorized_client");
  EXPECT_EQ(str(e, "error_description").rfind("AADSTS700016", 0), 0u) << str(e, "error_description");
  EXPECT_EQ(token_requests(*emulator), 1);  // a rejection is not retried
}

TEST_F(ProxyToken, AServiceAccountWithoutFederationIsA400Aadsts700213) {
  start();
  emulator->mint(token_file, "some-other-sa");
  auto r = proxy->get_token(kVault);
  EXPECT_EQ(r.status, 400);
  auto e = json_of(r);
  EXPECT_EQ(str(e, "error"), "invalid_client");
  EXPECT_NE(str(e, "error_description").find("AADSTS700213"), std::string::npos);
  EXPECT_NE(str(e, "error_description").find("system:serviceaccount:default:some-other-sa"), std::string::npos);
}

TEST_F(ProxyToken, AWrongTenantIsA400Aadsts90002) {
  start({}, {}, {{"AZURE_TENANT_ID", "00000000-0000-0000-0000-000000000009"}});
  auto r = proxy->get_token(kVault);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(str(json_of(r), "error_description").find("AADSTS90002"), std::string::npos);
}

TEST_F(ProxyToken, TransientFailuresAreRetriedAndTheCallerGetsAToken) {
  start({"--fail-next=2", "--fail-status=503"});
  auto r = proxy->get_token(kVault);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(token_requests(*emulator), 3);
  EXPECT_TRUE(proxy->process().wait_for_output("token request failed, retrying", 2s));
}

TEST_F(ProxyToken, ThrottlingBeyondTheDeadlineStaysA429WithRetryAfter) {
  start({}, {"--entra-timeout=5"});
  emulator->set_faults(R"({"fail_next":5,"fail_status":429,"retry_after":30})");
  auto t0 = std::chrono::steady_clock::now();
  auto r = proxy->get_token(kVault);
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.header("retry-after"), "30");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);  // Retry-After past the deadline: no pointless wait
  EXPECT_EQ(token_requests(*emulator), 1);
}

TEST_F(ProxyToken, AnOutageIsA503AndTheProxyRecoversAfterIt) {
  start({}, {"--entra-timeout=3"});
  emulator->set_faults(R"({"outage_seconds":60})");
  auto r = proxy->get_token(kVault);
  EXPECT_EQ(r.status, 503);
  EXPECT_GE(token_requests(*emulator), 2);  // retried inside the deadline
  emulator->clear_faults();
  EXPECT_EQ(proxy->get_token(kVault).status, 200);
}

TEST_F(ProxyToken, ASlowEntraIsA504WithinTheDeadline) {
  start({"--latency-ms=8000"}, {"--entra-timeout=2"});
  auto t0 = std::chrono::steady_clock::now();
  auto r = proxy->get_token(kVault);
  EXPECT_EQ(r.status, 504);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 4s);
  EXPECT_TRUE(proxy->process().running());
}

TEST_F(ProxyToken, RefreshesAheadInTheBackgroundSoCallersDoNotWait) {
  start({"--refresh-in=2"});
  auto first = json_of(proxy->get_token(kVault));
  std::this_thread::sleep_for(2500ms);
  auto t0 = std::chrono::steady_clock::now();
  auto during = json_of(proxy->get_token(kVault));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms);
  EXPECT_EQ(str(during, "access_token"), str(first, "access_token"));  // served at once from the cache
  // The background refresh lands shortly after.
  std::string latest;
  for (int i = 0; i < 50 && (latest.empty() || latest == str(first, "access_token")); ++i) {
    std::this_thread::sleep_for(100ms);
    if (token_requests(*emulator) >= 2) latest = str(json_of(proxy->get_token(kVault)), "access_token");
  }
  EXPECT_NE(latest, str(first, "access_token"));
  EXPECT_EQ(token_requests(*emulator), 2);
}

TEST_F(ProxyToken, WhileEntraIsDownAStillValidTokenKeepsBeingServed) {
  start({"--refresh-in=1"}, {"--entra-timeout=2"});
  auto first = json_of(proxy->get_token(kVault));
  emulator->set_faults(R"({"outage_seconds":60})");
  std::this_thread::sleep_for(1500ms);
  for (int i = 0; i < 5; ++i) {
    auto r = proxy->get_token(kVault);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(str(json_of(r), "access_token"), str(first, "access_token"));
    std::this_thread::sleep_for(300ms);
  }
  EXPECT_GE(emulator->stats().at("token_errors").as_int64(), 1);  // the refresh was tried and failed
}

TEST_F(ProxyToken, InFlightRequestsFinishOnSigterm) {
  start({"--latency-ms=1500"});
  auto pending = std::async(std::launch::async, [&] { return proxy->get_token(kVault).status; });
  std::this_thread::sleep_for(400ms);
  proxy->process().signal(SIGTERM);
  EXPECT_EQ(pending.get(), 200);
  EXPECT_EQ(proxy->process().wait_exit(6s), 0);
}

TEST_F(ProxyToken, LogsTellWhatHappenedAndNeverHoldSecretsEvenAtDebugLevel) {
  start({"--log-level=debug"}, {"--log-level=debug"});
  auto a = json_of(proxy->get_token(kVault));
  ASSERT_FALSE(str(a, "access_token").empty());
  EXPECT_EQ(json_of(proxy->get_token(kVault)).at("access_token"), a.at("access_token"));  // a cache hit, logged at debug
  proxy->process().signal(SIGTERM);
  proxy->process().wait_exit(6s);
  auto log = proxy->process().output();
  EXPECT_NE(log.find("\"msg\":\"starting the proxy server\",\"port\":" + std::to_string(proxy->port())), std::string::npos);
  EXPECT_NE(log.find("\"msg\":\"received token request\",\"method\":\"GET\",\"uri\":\"/metadata/identity/oauth2/token?"), std::string::npos);
  EXPECT_NE(log.find("\"msg\":\"successfully acquired token\""), std::string::npos);
  EXPECT_NE(log.find("\"level\":\"debug\",\"ts\""), std::string::npos) << "nothing was logged at debug level";
  EXPECT_EQ(log.find(str(a, "access_token")), std::string::npos);
  EXPECT_EQ(log.find(sa_token), std::string::npos);
  // Not even the signature part of either token.
  auto sig = [](const std::string& jwt) { return jwt.substr(jwt.rfind('.') + 1); };
  EXPECT_EQ(log.find(sig(str(a, "access_token"))), std::string::npos);
  EXPECT_EQ(log.find(sig(sa_token)), std::string::npos);
  // The emulator, at debug level too, saw both tokens and the client assertion: none of them in its log either.
  auto emulator_log = emulator->process().output();
  EXPECT_EQ(emulator_log.find(sig(str(a, "access_token"))), std::string::npos);
  EXPECT_EQ(emulator_log.find(sig(sa_token)), std::string::npos);
}

namespace {
// The CONNECT proxy of tests/support, resolving emulator.test to 127.0.0.1 (loopback itself is never proxied).
struct ConnectProxy {
  explicit ConnectProxy(const TempDir& dir)
      : log(dir.file("connect-proxy.log")),
        process({"/usr/bin/python3", AZWI_CONNECT_PROXY, "--port-file=" + dir.file("connect-proxy.port"),
                 "--log=" + log, "--map=emulator.test=127.0.0.1"},
                {}, dir.file("connect-proxy.out")) {
    auto p = wait_for_file(dir.file("connect-proxy.port"), 10s);
    if (!p) throw std::runtime_error("connect proxy did not start: " + process.output());
    url = "http://127.0.0.1:" + *p;
  }
  std::string log;
  ChildProcess process;
  std::string url;
};

std::string emulator_port(const EmulatorProcess& e) {
  auto u = e.url();  // https://127.0.0.1:PORT/
  return u.substr(u.rfind(':') + 1, u.size() - u.rfind(':') - 2);
}
}  // namespace

TEST_F(ProxyToken, TheEgressProxyCarriesTheExchange) {
  ConnectProxy egress(dir);
  emulator = std::make_unique<EmulatorProcess>(dir, kTenant, kClient, std::vector<std::string>{"--san=emulator.test"});
  token_file = dir.file("azure-identity-token");
  emulator->mint(token_file);
  std::string authority = "https://emulator.test:" + emulator_port(*emulator) + "/";
  proxy = std::make_unique<ProxyProcess>(
      dir, ProxyOptions{{{"AZURE_TENANT_ID", kTenant},
                         {"AZURE_CLIENT_ID", kClient},
                         {"AZURE_FEDERATED_TOKEN_FILE", token_file},
                         {"AZURE_AUTHORITY_HOST", authority},
                         {"SSL_CERT_FILE", emulator->ca_file()},
                         {"HTTPS_PROXY", "http://user:secret@" + egress.url.substr(7)}},
                        {}});
  auto r = proxy->get_token(kVault);
  ASSERT_EQ(r.status, 200) << r.body;
  auto log = read_file(egress.log);
  EXPECT_NE(log.find("CONNECT emulator.test:" + emulator_port(*emulator) + " auth=Basic dXNlcjpzZWNyZXQ="),
            std::string::npos)
      << log;
}

TEST_F(ProxyToken, NoProxyBypassesTheEgressProxy) {
  ConnectProxy egress(dir);
  emulator = std::make_unique<EmulatorProcess>(dir, kTenant, kClient, std::vector<std::string>{"--san=emulator.test"});
  token_file = dir.file("azure-identity-token");
  emulator->mint(token_file);
  proxy = std::make_unique<ProxyProcess>(
      dir, ProxyOptions{{{"AZURE_TENANT_ID", kTenant},
                         {"AZURE_CLIENT_ID", kClient},
                         {"AZURE_FEDERATED_TOKEN_FILE", token_file},
                         {"AZURE_AUTHORITY_HOST", "https://emulator.test:" + emulator_port(*emulator) + "/"},
                         {"SSL_CERT_FILE", emulator->ca_file()},
                         {"HTTPS_PROXY", egress.url},
                         {"NO_PROXY", ".test"}},
                        {"--entra-timeout=2"}});
  auto r = proxy->get_token(kVault);
  EXPECT_EQ(r.status, 503);  // direct: emulator.test does not resolve here
  EXPECT_NE(std::string(json_of(r).at("error_description").as_string()).find("cannot resolve emulator.test"),
            std::string::npos)
      << r.body;
  EXPECT_EQ(read_file(egress.log), "");
}

TEST_F(ProxyToken, AnUntrustedAuthorityIsA503ThatPointsAtTheTrustStore) {
  start({}, {}, {{"SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt"}});
  auto r = proxy->get_token(kVault);
  EXPECT_EQ(r.status, 503);
  auto d = std::string(json_of(r).at("error_description").as_string());
  EXPECT_NE(d.find("SSL_CERT_FILE"), std::string::npos) << d;
  EXPECT_EQ(token_requests(*emulator), 0);
}

// identity-endpoint mode: the App Service protocol on the same port, from the same cache.
namespace {
const std::string kSecret = "pod-secret-0123456789abcdefghijklmnopqrstuvwxyz";
const std::string kAppServiceVault = "/msi/token?api-version=2019-08-01&resource=https%3A%2F%2Fvault.azure.net";
}  // namespace

TEST_F(ProxyToken, TheIdentityEndpointAnswersTheAppServiceProtocolFromTheSameCache) {
  start({}, {}, {{"IDENTITY_HEADER", kSecret}});
  auto t0 = std::time(nullptr);
  auto r = http_request("GET", proxy->url(kAppServiceVault), {{"X-IDENTITY-HEADER", kSecret}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("content-type"), "application/json; charset=utf-8");
  auto a = json_of(r);
  EXPECT_EQ(str(a, "resource"), "https://vault.azure.net");
  EXPECT_EQ(str(a, "token_type"), "Bearer");
  EXPECT_EQ(str(a, "client_id"), kClient);
  // expires_on as a numeric string, as App Service writes it (MSAL Python parses it as an integer).
  EXPECT_NEAR(std::stoll(str(a, "expires_on")), t0 + 3600, 3);
  EXPECT_EQ(jwt::parse(str(a, "access_token")).claims.at("appid").as_string(), kClient);
  // The IMDS API beside it shares the token: no second exchange.
  auto imds = json_of(proxy->get_token(kVault));
  EXPECT_EQ(str(imds, "access_token"), str(a, "access_token"));
  EXPECT_EQ(token_requests(*emulator), 1);
  // A client_id selector, as the SDKs send it for a user-assigned identity.
  auto named = http_request("GET", proxy->url(kAppServiceVault + "&client_id=" + kClient), {{"X-IDENTITY-HEADER", kSecret}});
  EXPECT_EQ(named.status, 200) << named.body;
}

TEST_F(ProxyToken, TheIdentityEndpointRefusesAMissingOrWrongSecretAndNeverLogsIt) {
  start({}, {}, {{"IDENTITY_HEADER", kSecret}});
  const std::string wrong = "not-the-secret-but-as-long-as-it-0123456789abc";
  for (const http::HeaderList& headers :
       {http::HeaderList{}, http::HeaderList{{"X-IDENTITY-HEADER", wrong}},
        http::HeaderList{{"X-IDENTITY-HEADER", kSecret.substr(0, kSecret.size() - 1)}},
        http::HeaderList{{"Metadata", "true"}}}) {
    auto r = http_request("GET", proxy->url(kAppServiceVault), headers);
    EXPECT_EQ(r.status, 401) << r.body;
    auto e = json_of(r);
    EXPECT_EQ(e.at("statusCode").as_int64(), 401);
    EXPECT_NE(str(e, "message").find("X-IDENTITY-HEADER"), std::string::npos) << r.body;
    EXPECT_EQ(str(e, "message"), str(e, "error_description"));
    EXPECT_EQ(r.body.find(wrong), std::string::npos);
  }
  EXPECT_EQ(token_requests(*emulator), 0);
  auto bad_version = http_request("GET", proxy->url("/msi/token?api-version=2017-09-01&resource=r"),
                                  {{"X-IDENTITY-HEADER", kSecret}});
  EXPECT_EQ(bad_version.status, 400);
  EXPECT_NE(str(json_of(bad_version), "message").find("2019-08-01"), std::string::npos);
  auto post = http_request("POST", proxy->url(kAppServiceVault), {{"X-IDENTITY-HEADER", kSecret}});
  EXPECT_EQ(post.status, 405);
  proxy->process().signal(SIGTERM);
  proxy->process().wait_exit(6s);
  auto log = proxy->process().output();
  EXPECT_NE(log.find("\"msg\":\"refused token request\",\"status\":401"), std::string::npos) << log;
  EXPECT_NE(log.find("\"identityEndpoint\":true"), std::string::npos) << log;
  EXPECT_EQ(log.find(kSecret.substr(0, 12)), std::string::npos) << "the secret reached the log";
  EXPECT_EQ(log.find(wrong.substr(0, 12)), std::string::npos) << "a guessed secret reached the log";
}

TEST_F(ProxyToken, EntraFailuresReachTheIdentityEndpointInItsShape) {
  start({}, {}, {{"IDENTITY_HEADER", kSecret}});
  auto r = http_request("GET", proxy->url(kAppServiceVault + "&client_id=99999999-0000-0000-0000-000000000000"),
                        {{"X-IDENTITY-HEADER", kSecret}});
  EXPECT_EQ(r.status, 400);
  auto e = json_of(r);
  EXPECT_EQ(e.at("statusCode").as_int64(), 400);
  EXPECT_EQ(str(e, "message").rfind("AADSTS700016", 0), 0u) << r.body;
}

TEST_F(ProxyToken, WithoutASecretTheIdentityEndpointIsOff) {
  start();
  auto r = http_request("GET", proxy->url(kAppServiceVault), {{"X-IDENTITY-HEADER", ""}});
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(str(json_of(r), "message").find("started without IDENTITY_HEADER"), std::string::npos) << r.body;
  EXPECT_EQ(token_requests(*emulator), 0);
}
