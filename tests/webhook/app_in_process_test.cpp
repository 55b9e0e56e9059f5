// webhook::App started inside the test process, as the binary's main starts it, against the stand-in API server
// (tests/kube/fake_apiserver.py): an AdmissionReview over TLS is answered with the injection, and the metrics the
// App serves count it. A failure here points at the App's wiring, not at flags or process start-up.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <thread>

#include "certs.hpp"
#include "common/clock.hpp"
#include "http/server.hpp"
#include "support/curl_client.hpp"
#include "kube/cluster_config.hpp"
#include "webhook/app.hpp"

using namespace azwi;
using namespace azwi::testing;
namespace json = boost::json;

namespace {

class WebhookAppInProcess : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = make_webhook_test_dir("azwi-webhook-app", "webhook-in-process");
    write_file(dir + "/seed.json", R"([{"metadata":{"name":"app","namespace":"ns1",
      "annotations":{"azure.workload.identity/client-id":"cid-app"}}}])");
    api = std::make_unique<FakeApiServer>(
        dir, std::vector<std::string>{"--token", "api-token", "--seed", dir + "/seed.json", "--version", "v1.32.2"});
    write_file(dir + "/kubeconfig", kubeconfig_yaml(api->url(), dir + "/ca.crt", "    token: api-token\n"));

    webhook::AppOptions options;
    options.config.tenant_id = "tenant-default";
    options.config.authority_host = "https://login.microsoftonline.com/";
    options.config.proxy_image = "registry.test/proxy:1";
    options.config.proxy_init_image = "registry.test/proxy-init:1";
    options.cluster = kube::resolve_cluster_config(dir + "/kubeconfig");
    options.webhook = options.health = options.metrics = http::parse_endpoint("127.0.0.1:0");
    options.cert_dir = dir + "/certs";
    app = std::make_unique<webhook::App>(std::move(options), clock);
    app->start();
    server = std::thread([this] { app->run(); });
  }
  void TearDown() override {
    if (app) app->shutdown();
    if (server.joinable()) server.join();
    app.reset();
    api.reset();
    if (!HasFailure()) std::filesystem::remove_all(dir);
  }
  http::ClientResult get(std::uint16_t port, const std::string& path) {
    test::CurlClient client(http::ClientOptions{});
    http::ClientRequest r;
    r.url = "http://127.0.0.1:" + std::to_string(port) + path;
    return client.perform(r);
  }

  std::string dir;
  SystemClock clock;
  std::unique_ptr<FakeApiServer> api;
  std::unique_ptr<webhook::App> app;
  std::thread server;
};

TEST_F(WebhookAppInProcess, AnswersAnAdmissionReviewOverTlsWithThePatchAndCountsIt) {
  ASSERT_TRUE(eventually([&] {
    auto r = get(app->health_port(), "/readyz");
    return !r.error && r.response.status == 200;
  })) << "the App never became ready (service account cache and API server version)";

  http::ClientOptions tls;
  tls.ca_file = dir + "/ca.crt";
  test::CurlClient client(tls);
  http::ClientRequest r;
  r.method = "POST";
  r.url = "https://localhost:" + std::to_string(app->webhook_port()) + "/mutate-v1-pod";
  r.headers = {{"Content-Type", "application/json"}};
  r.body = R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"uid-1",)"
           R"("kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},)"
           R"("namespace":"ns1","operation":"CREATE","object":{"metadata":{"name":"p",)"
           R"("labels":{"azure.workload.identity/use":"true"}},"spec":{"serviceAccountName":"app",)"
           R"("containers":[{"name":"app","image":"busybox"}]}}}})";
  auto answer = client.perform(r);
  ASSERT_FALSE(answer.error) << answer.error->message;
  ASSERT_EQ(answer.response.status, 200) << answer.response.body;
  auto response = json::parse(answer.response.body).at("response").as_object();
  EXPECT_EQ(response.at("uid"), "uid-1");
  EXPECT_EQ(response.at("allowed"), true);
  EXPECT_EQ(response.at("patchType"), "JSONPatch");

  auto metrics = get(app->metrics_port(), "/metrics");
  EXPECT_NE(metrics.response.body.find(R"(azwi_webhook_admission_requests_total{namespace="ns1",result="mutated"} 1)"),
            std::string::npos)
      << metrics.response.body;
  // The process collector's figures next to the webhook's own, as the upstream webhook's endpoint serves them.
  EXPECT_NE(metrics.response.body.find("\nprocess_resident_memory_bytes "), std::string::npos) << metrics.response.body;
  EXPECT_NE(metrics.response.body.find("\nazwi_heap_in_use_bytes "), std::string::npos) << metrics.response.body;
}

}  // namespace
