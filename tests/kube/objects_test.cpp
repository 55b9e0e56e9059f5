// The typed client for Secrets and MutatingWebhookConfigurations against the stand-in API server (real HTTPS): each
// outcome (ok, NotFound, Conflict on create and on a stale resourceVersion, Forbidden, other failures), fields the
// types do not name surviving an update, and the caBundle of every webhook.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "common/base64.hpp"
#include "http/asio_client.hpp"
#include "kube/client.hpp"
#include "kube/objects.hpp"
#include "support.hpp"

using namespace azwi;
using namespace azwi::testing;
namespace json = boost::json;

namespace {

class ObjectsOnStandInApiServer : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = make_temp_dir("azwi-objects");
    make_ca(dir);
    make_cert(dir, "server", "localhost");
    api = std::make_unique<FakeApiServer>(dir, std::vector<std::string>{"--token", "t0ken"});
    kube::ClusterConfig c;
    c.server = api->url();
    c.ca_file = dir + "/ca.crt";
    c.token = "t0ken";
    client = std::make_unique<kube::ApiClient>(c);
    objects = std::make_unique<kube::ObjectClient>(*client);
  }
  void TearDown() override {
    api.reset();
    std::filesystem::remove_all(dir);
  }
  http::ClientResponse control(const std::string& method, const std::string& path, const std::string& body = "") {
    http::ClientOptions o;
    o.ca_file = dir + "/ca.crt";
    http::AsioClient c(o, http::EgressProxySettings("", "", ""));
    http::ClientRequest r;
    r.method = method;
    r.url = api->url() + path;
    r.body = body;
    r.headers = {{"Authorization", "Bearer t0ken"}, {"Content-Type", "application/json"}};
    auto result = c.perform(r);
    EXPECT_FALSE(result.error);
    return result.response;
  }
  kube::Secret secret(const std::string& name) {
    auto s = kube::Secret::make("ns", name);
    s.set_data({{"tls.crt", "certificate bytes"}, {"tls.key", std::string("\0\x01\xff", 3)}});
    return s;
  }

  std::string dir;
  std::unique_ptr<FakeApiServer> api;
  std::unique_ptr<kube::ApiClient> client;
  std::unique_ptr<kube::ObjectClient> objects;
};

TEST_F(ObjectsOnStandInApiServer, SecretGetCreateUpdateAndTheirConflicts) {
  auto missing = objects->get_secret("ns", "s");
  EXPECT_EQ(missing.outcome, kube::Outcome::not_found);
  EXPECT_NE(missing.error.find("HTTP 404"), std::string::npos) << missing.error;

  auto created = objects->create_secret(secret("s"));
  ASSERT_TRUE(created.ok()) << created.error;
  EXPECT_EQ(created.object.name(), "s");
  EXPECT_EQ(created.object.ns(), "ns");
  EXPECT_FALSE(created.object.resource_version().empty());
  EXPECT_EQ(created.object.data("tls.key"), std::string("\0\x01\xff", 3));
  EXPECT_EQ(created.object.data("absent"), std::nullopt);

  auto again = objects->create_secret(secret("s"));
  EXPECT_EQ(again.outcome, kube::Outcome::conflict);
  EXPECT_NE(again.error.find("already exists"), std::string::npos) << again.error;

  // Someone else's field survives our update, which carries the resourceVersion read.
  auto stored = json::parse(control("GET", "/api/v1/namespaces/ns/secrets/s").body).as_object();
  stored["metadata"].as_object()["annotations"] = json::object{{"owner", "someone"}};
  ASSERT_EQ(control("PUT", "/api/v1/namespaces/ns/secrets/s", json::serialize(stored)).status, 200);
  auto read = objects->get_secret("ns", "s");
  ASSERT_TRUE(read.ok()) << read.error;
  auto mine = read.object;
  mine.set_data({{"tls.crt", "renewed"}});
  auto updated = objects->update_secret(mine);
  ASSERT_TRUE(updated.ok()) << updated.error;
  EXPECT_EQ(updated.object.data("tls.crt"), "renewed");
  EXPECT_EQ(updated.object.data("tls.key"), std::nullopt);
  EXPECT_EQ(updated.object.json().at("metadata").at("annotations").at("owner"), "someone");
  EXPECT_NE(updated.object.resource_version(), read.object.resource_version());

  // The copy read before that update is stale now: Conflict, and the stored Secret keeps the newer content.
  auto stale = objects->update_secret(read.object);
  EXPECT_EQ(stale.outcome, kube::Outcome::conflict);
  EXPECT_NE(stale.error.find("HTTP 409"), std::string::npos) << stale.error;
  EXPECT_EQ(objects->get_secret("ns", "s").object.data("tls.crt"), "renewed");
}

TEST_F(ObjectsOnStandInApiServer, ForbiddenAndOtherFailuresAreTold) {
  control("POST", "/__test__/forbidden", R"({"secrets": ["get", "create"]})");
  auto get = objects->get_secret("ns", "s");
  EXPECT_EQ(get.outcome, kube::Outcome::forbidden);
  EXPECT_NE(get.error.find("HTTP 403: secrets \"s\" is forbidden"), std::string::npos) << get.error;
  EXPECT_EQ(objects->create_secret(secret("s")).outcome, kube::Outcome::forbidden);
  control("POST", "/__test__/forbidden", R"({"secrets": []})");
  // Data that is not base64 is refused by the server (422): a failure of its own kind.
  auto bad = kube::Secret(json::object{{"metadata", {{"name", "b"}, {"namespace", "ns"}}},
                                       {"data", {{"k", "not base64!"}}}});
  auto refused = objects->create_secret(bad);
  EXPECT_EQ(refused.outcome, kube::Outcome::failed);
  EXPECT_NE(refused.error.find("HTTP 422"), std::string::npos) << refused.error;
  EXPECT_EQ(kube::outcome_name(refused.outcome), "failed");
  EXPECT_EQ(kube::outcome_name(kube::Outcome::conflict), "Conflict");
  api->process().stop();
  auto down = objects->get_secret("ns", "s");
  EXPECT_EQ(down.outcome, kube::Outcome::failed);
  EXPECT_NE(down.error.find("cannot reach the API server"), std::string::npos) << down.error;
}

TEST_F(ObjectsOnStandInApiServer, WebhookConfigurationCaBundleOfEveryWebhook) {
  ASSERT_EQ(control("POST", "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
                    R"({"metadata":{"name":"wh"},"webhooks":[{"name":"a","clientConfig":{"url":"https://a"}},)"
                    R"({"name":"b","clientConfig":{"caBundle":"eA=="}},{"name":"c"}]})")
                .status,
            201);
  EXPECT_EQ(objects->get_mutating_webhook_configuration("absent").outcome, kube::Outcome::not_found);
  auto got = objects->get_mutating_webhook_configuration("wh");
  ASSERT_TRUE(got.ok()) << got.error;
  EXPECT_EQ(got.object.webhook_count(), 3u);
  auto config = got.object;
  EXPECT_EQ(config.set_ca_bundle("x"), 2);  // b's caBundle is base64("x") already
  EXPECT_EQ(config.set_ca_bundle("x"), 0);
  EXPECT_EQ(config.set_ca_bundle("PEM"), 3);
  auto updated = objects->update_mutating_webhook_configuration(config);
  ASSERT_TRUE(updated.ok()) << updated.error;
  for (const auto& w : updated.object.json().at("webhooks").as_array())
    EXPECT_EQ(w.at("clientConfig").at("caBundle").as_string(), base64_encode("PEM")) << w;
  EXPECT_EQ(updated.object.json().at("webhooks").at(0).at("clientConfig").at("url"), "https://a");
  control("POST", "/__test__/conflicts", R"({"mutatingwebhookconfigurations": 1})");
  EXPECT_EQ(objects->update_mutating_webhook_configuration(updated.object).outcome, kube::Outcome::conflict);
}

}  // namespace
