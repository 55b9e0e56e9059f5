// The proxy's HTTP behaviour that needs no Entra ID: request rules, passthrough, defences, probe, start-up errors.
#include <gtest/gtest.h>

#include <csignal>

#include "proxy/proxy_fixture.hpp"

using namespace azwi;
using namespace azwi::test;
using namespace std::chrono_literals;

namespace {
std::map<std::string, std::string> base_env(const std::string& imds_unused = "") {
  return {{"AZURE_TENANT_ID", "tenant-1"},
          {"AZURE_CLIENT_ID", "client-1"},
          {"AZURE_FEDERATED_TOKEN_FILE", "/nonexistent/token"},
          {"AZURE_AUTHORITY_HOST", "https://127.0.0.1:1/"}};
}

boost::json::object json_of(const http::ClientResponse& r) { return boost::json::parse(r.body).as_object(); }
}  // namespace

class ProxyHttp : public ::testing::Test {
 protected:
  TempDir dir{"azwi-proxy-http"};
  EchoImds imds;
  std::unique_ptr<ProxyProcess> proxy;
  void start(std::map<std::string, std::string> env = base_env(), std::vector<std::string> args = {}) {
    args.push_back("--imds-endpoint=http://127.0.0.1:" + std::to_string(imds.port()));
    proxy = std::make_unique<ProxyProcess>(dir, ProxyOptions{std::move(env), std::move(args)});
  }
};

TEST_F(ProxyHttp, RequestRulesOfRealImds) {
  start();
  auto r = http_request("POST", proxy->url(kTokenPath + "?api-version=2018-02-01&resource=r"), {{"Metadata", "true"}}, "x");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("allow"), "GET");

  r = proxy->get_token("api-version=2018-02-01&resource=r", {});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.header("content-type"), "application/json; charset=utf-8");
  EXPECT_EQ(json_of(r).at("error_description").as_string(), "Required metadata header not specified");

  r = proxy->get_token("api-version=2018-02-01&resource=r", {{"Metadata", "true"}, {"X-Forwarded-For", "10.0.0.1"}});
  EXPECT_EQ(r.status, 400);

  r = proxy->get_token("resource=r");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(std::string(json_of(r).at("error_description").as_string()).find("api-version"), std::string::npos);

  r = proxy->get_token("api-version=2018-02-01");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(std::string(json_of(r).at("error_description").as_string()).find("resource"), std::string::npos);

  r = proxy->get_token("api-version=2018-02-01&resource=r&msi_res_id=/subscriptions/x");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(std::string(json_of(r).at("error_description").as_string()).find("client ID"), std::string::npos);
}

TEST_F(ProxyHttp, NoIdentityGivenIsA400SayingSo) {
  auto env = base_env();
  env["AZURE_CLIENT_ID"] = "";
  start(env);
  auto r = proxy->get_token("api-version=2018-02-01&resource=r");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(std::string(json_of(r).at("error_description").as_string()).find("Identity not found"), std::string::npos);
}

TEST_F(ProxyHttp, UnreadableTokenFileIsAClearError) {
  start();
  auto r = proxy->get_token("api-version=2018-02-01&resource=r");
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(std::string(json_of(r).at("error_description").as_string()).find("/nonexistent/token"), std::string::npos);
  EXPECT_TRUE(proxy->process().wait_for_output("cannot read the federated token file", 2s));
}

TEST_F(ProxyHttp, UnreachableEntraIsAPrompt5xx) {
  dir.path();
  write_file(dir.file("token"), "header.payload.sig");
  auto env = base_env();
  env["AZURE_FEDERATED_TOKEN_FILE"] = dir.file("token");
  start(env, {"--entra-timeout=3"});
  auto t0 = std::chrono::steady_clock::now();
  auto r = proxy->get_token("api-version=2018-02-01&resource=https://vault.azure.net");
  EXPECT_EQ(r.status, 503);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_NE(std::string(json_of(r).at("error_description").as_string()).find("cannot reach Entra ID"), std::string::npos);
  EXPECT_TRUE(proxy->process().running());
}

TEST_F(ProxyHttp, OtherPathsPassThroughIntact) {
  start();
  auto r = http_request("GET", proxy->url("/metadata/instance?api-version=2021-02-01&format=json"),
                        {{"Metadata", "true"}, {"X-Custom", "kept"}});
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.header("x-imds-echo"), "yes");
  auto echo = json_of(r);
  EXPECT_EQ(echo.at("method").as_string(), "GET");
  EXPECT_EQ(echo.at("target").as_string(), "/metadata/instance?api-version=2021-02-01&format=json");
  EXPECT_EQ(echo.at("headers").at("Metadata").as_string(), "true");
  EXPECT_EQ(echo.at("headers").at("X-Custom").as_string(), "kept");

  r = http_request("POST", proxy->url("/metadata/scheduledevents?api-version=2020-07-01"), {{"Metadata", "true"}},
                   R"({"StartRequests":[{"EventId":"e1"}]})");
  EXPECT_EQ(r.status, 201);
  echo = json_of(r);
  EXPECT_EQ(echo.at("method").as_string(), "POST");
  EXPECT_EQ(echo.at("body").as_string(), R"({"StartRequests":[{"EventId":"e1"}]})");
  EXPECT_EQ(imds.seen().size(), 2u);
}

TEST_F(ProxyHttp, UnreachableImdsIsAPrompt502) {
  auto env = base_env();
  proxy = std::make_unique<ProxyProcess>(dir, ProxyOptions{env, {"--imds-endpoint=http://127.0.0.1:1"}});
  auto t0 = std::chrono::steady_clock::now();
  auto r = http_request("GET", proxy->url("/metadata/instance?api-version=2021-02-01"), {{"Metadata", "true"}});
  EXPECT_EQ(r.status, 502);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  EXPECT_EQ(json_of(r).at("error").as_string(), "bad_gateway");
}

TEST_F(ProxyHttp, HalfSentRequestIsDroppedWithinSeconds) {
  start();
  auto r = raw_exchange(proxy->port(), "GET /metadata/identity/oauth2/token HTTP/1.1\r\nHost: x\r\n", 15s);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->closed_by_peer);
  EXPECT_LT(r->elapsed, 8s);
  EXPECT_TRUE(proxy->process().running());
}

TEST_F(ProxyHttp, OversizedHeadersAreRefused) {
  start();
  std::string req = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n";
  auto r = raw_exchange(proxy->port(), req, 5s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->received.rfind("HTTP/1.1 431", 0), 0u) << r->received.substr(0, 100);
  EXPECT_TRUE(r->closed_by_peer);
}

TEST_F(ProxyHttp, MalformedHttpGetsA400AndTheProxyKeepsServing) {
  start();
  for (std::string junk : std::vector<std::string>{"HELLO\r\n\r\n", "GET / HTTP/9.9\r\n\r\n", std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11),
                           "GET /healthz HTTP/1.1\r\nContent-Length: -5\r\n\r\n"}) {
    auto r = raw_exchange(proxy->port(), junk, 5s);
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->received.empty() || r->received.rfind("HTTP/1.1 400", 0) == 0) << r->received;
    EXPECT_TRUE(r->closed_by_peer);
  }
  EXPECT_EQ(http_request("GET", proxy->url("/healthz")).status, 200);
}

TEST_F(ProxyHttp, KeepAliveServesSeveralRequestsOnOneConnection) {
  start();
  std::string two = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  auto r = raw_exchange(proxy->port(), two, 5s);
  ASSERT_TRUE(r);
  size_t first = r->received.find("HTTP/1.1 200");
  ASSERT_NE(first, std::string::npos);
  EXPECT_NE(r->received.find("HTTP/1.1 200", first + 1), std::string::npos);
}

TEST_F(ProxyHttp, ProbeSucceedsAgainstARunningProxyAndFailsWithoutOne) {
  start();
  ChildProcess ok({AZWI_PROXY_BIN, "--probe", "--proxy-port=" + std::to_string(proxy->port())}, {}, dir.file("probe-ok.log"));
  EXPECT_EQ(ok.wait_exit(10s), 0) << ok.output();
  auto unused = free_port();
  auto t0 = std::chrono::steady_clock::now();
  ChildProcess bad({AZWI_PROXY_BIN, "--probe", "--proxy-port=" + std::to_string(unused)}, {}, dir.file("probe-bad.log"));
  EXPECT_EQ(bad.wait_exit(15s), 1);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 5s);  // 7 tries, 1 s apart
  EXPECT_NE(bad.output().find("proxy did not become ready"), std::string::npos);
}

TEST_F(ProxyHttp, RefusesToStartWithoutTenant) {
  auto env = base_env();
  env["AZURE_TENANT_ID"] = "";
  ChildProcess p({AZWI_PROXY_BIN, "--proxy-port=" + std::to_string(free_port())}, env, dir.file("notenant.log"));
  EXPECT_EQ(p.wait_exit(5s), 1);
  EXPECT_NE(p.output().find("AZURE_TENANT_ID is not set"), std::string::npos);
}

TEST_F(ProxyHttp, BadFlagsAreUsageErrors) {
  ChildProcess p({AZWI_PROXY_BIN, "--proxy-port=abc"}, base_env(), dir.file("badflag.log"));
  EXPECT_EQ(p.wait_exit(5s), 2);
  EXPECT_NE(p.output().find("--proxy-port"), std::string::npos);
  ChildProcess q({AZWI_PROXY_BIN, "--imds-endpoint=https://169.254.169.254"}, base_env(), dir.file("badimds.log"));
  EXPECT_EQ(q.wait_exit(5s), 2);
  EXPECT_NE(q.output().find("only plain http"), std::string::npos);
  ChildProcess h({AZWI_PROXY_BIN, "--help"}, {}, dir.file("help.log"));
  EXPECT_EQ(h.wait_exit(5s), 0);
  EXPECT_NE(h.output().find("--metrics-addr"), std::string::npos);
}

TEST_F(ProxyHttp, SigtermStopsAcceptingAndExitsZero) {
  start();
  proxy->process().signal(SIGTERM);
  EXPECT_EQ(proxy->process().wait_exit(6s), 0);
  EXPECT_FALSE(wait_for_port(proxy->port(), 200ms));
  EXPECT_NE(proxy->process().output().find("\"msg\":\"stopped\""), std::string::npos);
}

TEST_F(ProxyHttp, MetricsAreServedWhenAsked) {
  auto mport = free_port();
  start(base_env(), {"--metrics-addr=127.0.0.1:" + std::to_string(mport)});
  proxy->get_token("resource=r");
  auto m = http_request("GET", "http://127.0.0.1:" + std::to_string(mport) + "/metrics");
  EXPECT_EQ(m.status, 200);
  EXPECT_NE(m.body.find("azwi_proxy_requests_total{route=\"token\",code=\"400\"} 1"), std::string::npos) << m.body;
}
