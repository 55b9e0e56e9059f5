// CPU cost of one admission without the network: parsing the AdmissionReview, deciding and rendering the answer,
// for the same review bench/webhook/run.sh sends. Run: build/bench/webhook/azwi-admission-micro
// (or under `valgrind --tool=callgrind` for instruction counts that do not depend on the machine's load).
#include <benchmark/benchmark.h>

#include <boost/json/monotonic_resource.hpp>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "common/metrics.hpp"
#include "webhook/admission.hpp"

namespace {
using namespace azwi;

std::string review_text() {
  std::ifstream in(AZWI_BENCH_REVIEW);
  if (!in) throw std::runtime_error("cannot read " AZWI_BENCH_REVIEW);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

kube::FetchResult service_account() {
  kube::ServiceAccount sa;
  sa.ns = "bench";
  sa.name = "app";
  sa.annotations.emplace("azure.workload.identity/client-id", "00000000-0000-0000-0000-000000000001");
  kube::FetchResult r;
  r.sa = std::make_shared<const kube::ServiceAccount>(std::move(sa));
  return r;
}

webhook::Config config() {
  webhook::Config c;
  c.tenant_id = "bench-tenant";
  c.authority_host = "https://login.microsoftonline.com/";
  c.proxy_image = webhook::default_proxy_image();
  c.proxy_init_image = webhook::default_proxy_init_image();
  return c;
}

// The same arena the service gives each admission.
struct Arena {
  unsigned char first_block[32 * 1024];
  boost::json::monotonic_resource resource{first_block, sizeof first_block};
};

void BM_ParseReview(benchmark::State& state) {
  const std::string body = review_text();
  for (auto _ : state) {
    Arena arena;
    auto parsed = webhook::parse_review(body, boost::json::storage_ptr(&arena.resource));
    benchmark::DoNotOptimize(parsed);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_ParseReview);

void BM_Admission(benchmark::State& state) {
  const std::string body = review_text();
  const auto lookup = service_account();
  const auto cfg = config();
  std::size_t answer_bytes = 0;
  for (auto _ : state) {
    Arena arena;
    auto parsed = webhook::parse_review(body, boost::json::storage_ptr(&arena.resource));
    auto& review = std::get<webhook::Review>(parsed);
    if (webhook::precheck(review)) throw std::runtime_error("the bench review must reach the mutation");
    webhook::Answer answer = webhook::decide(review, lookup, cfg, webhook::ClusterVersion{1, 31});
    answer_bytes = answer.body.size();
    benchmark::DoNotOptimize(answer);
  }
  state.counters["answer_bytes"] = static_cast<double>(answer_bytes);
}
BENCHMARK(BM_Admission);

// What the service adds to every admission for its metrics: the latency histogram and the counter of its namespace
// and result, found in a family of 200 namespaces. Read next to BM_Admission: its share of an admission's CPU.
void BM_AdmissionMetrics(benchmark::State& state) {
  metrics::Registry registry;
  auto& latency = registry.histogram("azwi_webhook_admission_duration_seconds", "Latency", metrics::latency_buckets());
  auto& requests = registry.counter_family("azwi_webhook_admission_requests_total", "Requests", {"namespace", "result"});
  std::vector<std::string> namespaces;
  for (int i = 0; i < 200; ++i) namespaces.push_back("namespace-" + std::to_string(i));
  for (const auto& ns : namespaces) requests.labels({ns, "mutated"});
  std::size_t i = 0;
  for (auto _ : state) {
    latency.observe(0.0004);
    requests.labels({namespaces[i++ % namespaces.size()], "mutated"}).inc();
  }
}
BENCHMARK(BM_AdmissionMetrics)->Threads(1)->Threads(2);

}  // namespace

BENCHMARK_MAIN();
