#include "webhook/service.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <chrono>

#include "common/log.hpp"
#include "http/responses.hpp"

namespace azwi::webhook {
namespace bhttp = boost::beast::http;

namespace {

std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

// One admission's JSON lives in an arena: parsing, the copied pod and the patch cost no malloc calls for a typical
// pod, which matters because two I/O threads otherwise contend on the allocator.
struct Work {
  Work() {}  // user-provided: make_shared must not zero the block below
  unsigned char first_block[32 * 1024];
  boost::json::monotonic_resource arena{first_block, sizeof first_block};
  boost::json::storage_ptr storage() { return boost::json::storage_ptr(&arena); }
  std::optional<Review> review;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
};

// Runs one step of deciding a review. The webhook's failurePolicy is Fail, so a bug that ended the process would stop
// every labelled pod in the cluster from being created: an exception becomes the review's 500 answer with the reason,
// as any other failure to decide does, and is logged with it.
template <class Step>
auto guarded(const Review& review, Step&& step) -> decltype(step()) {
  try {
    return step();
  } catch (const std::exception& e) {
    return denied(review, 500, std::string("internal error: ") + e.what());
  } catch (...) {
    return denied(review, 500, "internal error: an exception that is not a std::exception");
  }
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += ',';
    out += n;
  }
  return out;
}
}  // namespace

struct AdmissionService::Impl {
  Impl(Config c, kube::ServiceAccountSource& a, std::function<ClusterVersion()> v, metrics::Registry& r,
       ServiceOptions o)
      : config(std::move(c)), accounts(a), version(std::move(v)), options(o),
        pool(static_cast<std::size_t>(std::max(1, o.lookup_threads))),
        latency(r.histogram("azwi_webhook_admission_duration_seconds",
                            "Time from receiving an AdmissionReview to having its answer", metrics::latency_buckets())),
        lookups(r.counter("azwi_webhook_serviceaccount_lookups_total",
                          "Service accounts read from the API server because they were not in the cache")),
        requests(r.counter_family("azwi_webhook_admission_requests_total",
                                  "AdmissionReviews answered, by namespace and result", {"namespace", "result"})) {
    requests.bound("azwi_webhook_admission_requests_total", o.max_admission_label_sets, {"_other", std::nullopt});
  }

  Config config;
  kube::ServiceAccountSource& accounts;
  std::function<ClusterVersion()> version;
  ServiceOptions options;
  boost::asio::thread_pool pool;
  std::atomic<std::size_t> pending{0};
  metrics::Histogram& latency;
  metrics::Counter& lookups;
  metrics::Family<metrics::Counter>& requests;
  log::Logger log{"admission"};

  void finish(const Review* review, Answer answer, std::chrono::steady_clock::time_point start,
              const http::Responder& respond) {
    // Counted before answering: a client that has its answer and then reads /metrics finds it counted.
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    latency.observe(seconds);
    requests.labels({review ? std::string_view(review->ns) : std::string_view(), answer.result}).inc();
    http::Response res{static_cast<bhttp::status>(answer.http_status), 11};
    res.set(bhttp::field::content_type, answer.content_type);
    res.body() = std::move(answer.body);
    respond(std::move(res));

    auto level = answer.result == "error" || answer.result == "malformed" ? log::Level::warn : log::Level::info;
    if (!log::enabled(level)) return;
    if (!review) {
      log.write(level, "admission refused", {{"result", answer.result}, {"reason", answer.message}});
      return;
    }
    log.write(level, "admission",
              {{"uid", review->uid},
               {"pod", review->pod_name},
               {"namespace", review->ns},
               {"service_account", review->service_account},
               {"operation", review->operation},
               {"dry_run", review->dry_run},
               {"result", answer.result},
               {"injected_into", joined(answer.containers)},
               {"proxy", answer.proxy},
               {"proxy_mode", answer.proxy_mode},
               {"token_expiration", answer.token_expiration},
               {"patch_ops", answer.patch_ops},
               {"reason", answer.message},
               {"duration_ms", seconds * 1000.0}});
  }
};

AdmissionService::AdmissionService(Config config, kube::ServiceAccountSource& accounts,
                                   std::function<ClusterVersion()> version, metrics::Registry& registry,
                                   ServiceOptions options)
    : impl_(std::make_shared<Impl>(std::move(config), accounts, std::move(version), registry, options)) {}

AdmissionService::~AdmissionService() {
  impl_->pool.join();
}

void AdmissionService::handle(http::Request req, http::Responder respond) {
  auto start = std::chrono::steady_clock::now();
  std::string_view path = path_of(req.target());
  if (path != "/mutate-v1-pod") {
    return respond(http::text_response(404, "no such path; the webhook serves POST /mutate-v1-pod\n"));
  }
  if (req.method() != bhttp::verb::post) {
    auto res = http::text_response(405, "use POST with an AdmissionReview\n");
    res.set(bhttp::field::allow, "POST");
    return respond(std::move(res));
  }
  auto type = req[bhttp::field::content_type];
  if (!type.empty() && type.find("json") == std::string_view::npos) {
    return respond(http::text_response(415,
                                 "content type must be application/json, not " + std::string(type) + "\n"));
  }

  auto work = std::make_shared<Work>();
  work->start = start;
  auto parsed = parse_review(req.body(), work->storage());
  if (auto* refusal = std::get_if<Answer>(&parsed)) return impl_->finish(nullptr, std::move(*refusal), start, respond);
  Review& review = work->review.emplace(std::move(std::get<Review>(parsed)));
  if (auto early = precheck(review)) return impl_->finish(&review, std::move(*early), start, respond);

  // Answered here when the account is in memory or the lookup queue is full; else looked up on the pool.
  std::optional<Answer> answer = guarded(review, [&]() -> std::optional<Answer> {
    if (auto sa = impl_->accounts.cached(review.ns, review.service_account)) {
      kube::FetchResult hit;
      hit.sa = std::move(sa);
      return decide(review, hit, impl_->config, impl_->version());
    }
    if (impl_->pending.fetch_add(1) >= impl_->options.max_pending_lookups) {
      impl_->pending.fetch_sub(1);
      kube::FetchResult busy;
      busy.error = "too many service account lookups are already waiting for the API server";
      return decide(review, busy, impl_->config, impl_->version());
    }
    return std::nullopt;
  });
  if (answer) return impl_->finish(&review, std::move(*answer), start, respond);
  boost::asio::post(impl_->pool, [impl = impl_, work, respond = std::move(respond)]() {
    impl->lookups.inc();
    Review& review = *work->review;
    kube::FetchResult result;
    try {
      result = impl->accounts.fetch(review.ns, review.service_account);
    } catch (const std::exception& e) {
      result.error = e.what();
    } catch (...) {
      result.error = "the lookup failed with an exception that is not a std::exception";
    }
    impl->pending.fetch_sub(1);
    // An exception escaping a pool thread would end the process; no server is there to catch it.
    Answer answer = guarded(review, [&] { return decide(review, result, impl->config, impl->version()); });
    impl->finish(&review, std::move(answer), work->start, respond);
  });
}

http::Handler health_handler(std::function<std::optional<std::string>()> unready_reason) {
  return [unready_reason = std::move(unready_reason)](http::Request req, http::Responder respond) {
    std::string_view path = path_of(req.target());
    if (path == "/healthz") return respond(http::text_response(200, "ok\n"));
    if (path == "/readyz") {
      if (auto reason = unready_reason()) {
        return respond(http::text_response(503, "not ready: " + *reason + "\n"));
      }
      return respond(http::text_response(200, "ok\n"));
    }
    respond(http::text_response(404, "serves /healthz and /readyz\n"));
  };
}


}  // namespace azwi::webhook
