// The admission service's answers when deciding fails in a way nobody planned for: a bug (an exception) while
// reading the cache, while deciding on the I/O thread, or on the lookup pool becomes the review's own 500 answer
// with the reason, and the service goes on answering. And an answer is counted in the metrics before it is handed
// over, so a client that has its answer and then reads /metrics finds it.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <future>
#include <stdexcept>

#include "webhook/service.hpp"

using namespace azwi;
namespace bhttp = boost::beast::http;
using namespace std::chrono_literals;

namespace {

kube::ServiceAccountPtr account() {
  auto sa = std::make_shared<kube::ServiceAccount>();
  sa->ns = "ns";
  sa->name = "sa";
  sa->annotations.emplace("azure.workload.identity/client-id", "client");
  return sa;
}

struct Accounts : kube::ServiceAccountSource {
  bool cache_throws = false;
  bool in_cache = true;
  kube::ServiceAccountPtr cached(std::string_view, std::string_view) const override {
    if (cache_throws) throw std::runtime_error("the cache broke");
    return in_cache ? account() : nullptr;
  }
  kube::FetchResult fetch(std::string_view, std::string_view) override {
    kube::FetchResult r;
    r.sa = account();
    return r;
  }
};

http::Request review_request(const std::string& ns = "ns") {
  http::Request req{bhttp::verb::post, "/mutate-v1-pod", 11};
  req.set(bhttp::field::content_type, "application/json");
  req.body() = R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"the-uid",
    "kind":{"kind":"Pod"},"operation":"CREATE","namespace":")" + ns + R"(",
    "object":{"metadata":{"name":"p","labels":{"azure.workload.identity/use":"true"}},
      "spec":{"serviceAccountName":"sa","containers":[{"name":"c","image":"i"}]}}}})";
  return req;
}

// The answer the service gives, waited for up to 5 s (a lookup answers from the pool).
http::Response answer(webhook::AdmissionService& service, const std::string& ns = "ns") {
  auto promise = std::make_shared<std::promise<http::Response>>();
  auto future = promise->get_future();
  service.handle(review_request(ns), [promise](http::Response res) { promise->set_value(std::move(res)); });
  if (future.wait_for(5s) != std::future_status::ready) throw std::runtime_error("no answer within 5 s");
  return future.get();
}

boost::json::object response_of(const http::Response& res) {
  return boost::json::parse(res.body()).as_object().at("response").as_object();
}

struct Fixture {
  explicit Fixture(webhook::ServiceOptions options = {}) : service{config, accounts, version(), registry, options} {}
  Accounts accounts;
  bool version_throws = false;
  metrics::Registry registry;
  webhook::Config config = [] {
    webhook::Config c;
    c.tenant_id = "tenant";
    c.authority_host = "https://login.microsoftonline.com/";
    return c;
  }();
  std::function<webhook::ClusterVersion()> version() {
    return [this] {
      if (version_throws) throw std::logic_error("no version for you");
      return webhook::ClusterVersion{1, 33};
    };
  }
  webhook::AdmissionService service;
};

}  // namespace

TEST(AdmissionServiceFailures, AnExceptionWhileReadingTheCacheIsTheReviewsOwn500AndTheServiceGoesOn) {
  Fixture f;
  f.accounts.cache_throws = true;
  http::Response res = answer(f.service);
  EXPECT_EQ(res.result_int(), 200u);  // an AdmissionReview answer, which the API server reports with its reason
  auto r = response_of(res);
  EXPECT_EQ(r.at("uid").as_string(), "the-uid");
  EXPECT_FALSE(r.at("allowed").as_bool());
  EXPECT_EQ(r.at("status").at("code").as_int64(), 500);
  EXPECT_EQ(r.at("status").at("message").as_string(), "internal error: the cache broke");

  f.accounts.cache_throws = false;
  auto ok = response_of(answer(f.service));
  EXPECT_TRUE(ok.at("allowed").as_bool());
  EXPECT_TRUE(ok.contains("patch"));
}

TEST(AdmissionServiceFailures, AnExceptionWhileDecidingOnTheIoThreadOrOnTheLookupPoolIsTheReviewsOwn500) {
  Fixture f;
  f.version_throws = true;
  for (bool in_cache : {true, false}) {
    f.accounts.in_cache = in_cache;
    auto r = response_of(answer(f.service));
    EXPECT_EQ(r.at("uid").as_string(), "the-uid") << in_cache;
    EXPECT_EQ(r.at("status").at("code").as_int64(), 500) << in_cache;
    EXPECT_EQ(r.at("status").at("message").as_string(), "internal error: no version for you") << in_cache;
  }
  f.version_throws = false;
  EXPECT_TRUE(response_of(answer(f.service)).at("allowed").as_bool());  // the pool thread survived
  EXPECT_NE(f.registry.render().find("result=\"error\""), std::string::npos);
}

// The metrics as they stand when the answer is handed over: what a client that reads /metrics right after its answer
// sees. Counted afterwards, the integration test under load read 2 of 3 denials.
TEST(AdmissionServiceMetrics, AnAnswerIsCountedBeforeItIsHandedOver) {
  Fixture f;
  for (bool in_cache : {true, false}) {  // answered on the calling thread, and from the lookup pool
    f.accounts.in_cache = in_cache;
    auto promise = std::make_shared<std::promise<std::string>>();
    auto future = promise->get_future();
    f.service.handle(review_request(), [&f, promise](http::Response) { promise->set_value(f.registry.render()); });
    ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
    std::string expected = std::string(R"(azwi_webhook_admission_requests_total{namespace="ns",result="mutated"} )") +
                           (in_cache ? "1" : "2");
    std::string metrics = future.get();
    EXPECT_NE(metrics.find(expected), std::string::npos) << in_cache << "\n" << metrics;
  }
}

// The namespace label comes from the request: a caller sending reviews for ever new namespaces must not grow the
// metrics (and the memory under them) without end. Past the bound they are counted together, and nothing is lost.
TEST(AdmissionServiceMetrics, NamespacesPastTheBoundAreCountedAsOtherAndTheTextStopsGrowing) {
  webhook::ServiceOptions options;
  options.max_admission_label_sets = 5;
  Fixture f(options);
  for (int i = 0; i < 5; ++i) answer(f.service, "ns-" + std::to_string(i));
  std::size_t size_at_bound = f.registry.render().size();
  for (int i = 5; i < 2000; ++i) answer(f.service, "ns-" + std::to_string(i));
  std::string metrics = f.registry.render();
  EXPECT_NE(metrics.find(R"(azwi_webhook_admission_requests_total{namespace="ns-4",result="mutated"} 1)"),
            std::string::npos) << metrics;
  EXPECT_EQ(metrics.find(R"(namespace="ns-5")"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find(R"(azwi_webhook_admission_requests_total{namespace="_other",result="mutated"} 1995)"),
            std::string::npos) << metrics;
  EXPECT_LT(metrics.size(), size_at_bound + 200);  // one more label set, whatever came after
  answer(f.service, "ns-0");  // a namespace counted before the bound keeps its own series
  EXPECT_NE(f.registry.render().find(R"({namespace="ns-0",result="mutated"} 2)"), std::string::npos);
}
