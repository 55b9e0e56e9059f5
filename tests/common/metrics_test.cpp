// The metrics registry: the Prometheus text it writes, families looked up by label values, and updates from many
// threads at once.
#include <gtest/gtest.h>

#include <algorithm>

#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/metrics.hpp"

using namespace azwi;

namespace {
// Every kind of metric, labelled and not, with label sets added out of order and a value that needs escaping.
metrics::Registry& fill(metrics::Registry& r) {
  r.counter("req_total", "Requests.", {{"route", "token"}, {"code", "500"}}).inc(2);
  r.counter("req_total", "Requests.", {{"route", "token"}, {"code", "200"}}).inc(3);
  r.counter("odd_total", "Odd labels.", {{"v", "a\"b\\c\nd"}}).inc();
  r.gauge("size", "Size.").set(2.5);
  r.histogram("lat_seconds", "Latency.", {0.1, 1}).observe(0.5);
  r.histogram("lat_seconds", "Latency.", {0.1, 1}).observe(0.05);
  r.histogram("lat_seconds", "Latency.", {0.1, 1}).observe(7);
  r.histogram("route_seconds", "By route.", {0.1}, {{"route", "b"}}).observe(0.01);
  r.histogram("route_seconds", "By route.", {0.1}, {{"route", "a"}}).observe(1);
  return r;
}
}  // namespace

// The exact text of the registry before the families replaced its maps: scrapers and dashboards see no change.
TEST(Metrics, PrometheusTextIsByteForByteTheFormatScrapersRead) {
  metrics::Registry r;
  EXPECT_EQ(fill(r).render(),
            "# HELP lat_seconds Latency.\n"
            "# TYPE lat_seconds histogram\n"
            "lat_seconds_bucket{le=\"0.1\"} 1\n"
            "lat_seconds_bucket{le=\"1\"} 2\n"
            "lat_seconds_bucket{le=\"+Inf\"} 3\n"
            "lat_seconds_sum 7.55\n"
            "lat_seconds_count 3\n"
            "# HELP odd_total Odd labels.\n"
            "# TYPE odd_total counter\n"
            "odd_total{v=\"a\\\"b\\\\c\\nd\"} 1\n"
            "# HELP req_total Requests.\n"
            "# TYPE req_total counter\n"
            "req_total{route=\"token\",code=\"200\"} 3\n"
            "req_total{route=\"token\",code=\"500\"} 2\n"
            "# HELP route_seconds By route.\n"
            "# TYPE route_seconds histogram\n"
            "route_seconds_bucket{route=\"a\",le=\"0.1\"} 0\n"
            "route_seconds_bucket{route=\"a\",le=\"+Inf\"} 1\n"
            "route_seconds_sum{route=\"a\"} 1\n"
            "route_seconds_count{route=\"a\"} 1\n"
            "route_seconds_bucket{route=\"b\",le=\"0.1\"} 1\n"
            "route_seconds_bucket{route=\"b\",le=\"+Inf\"} 1\n"
            "route_seconds_sum{route=\"b\"} 0.01\n"
            "route_seconds_count{route=\"b\"} 1\n"
            "# HELP size Size.\n"
            "# TYPE size gauge\n"
            "size 2.5\n");
}

TEST(Metrics, AFamilyGivesTheSameMetricForTheSameLabelValues) {
  metrics::Registry r;
  auto& family = r.counter_family("req_total", "Requests.", {"route", "code"});
  EXPECT_EQ(&r.counter_family("req_total", "Requests.", {"route", "code"}), &family);
  auto& ok = family.labels({"token", "200"});
  EXPECT_EQ(&family.labels({"token", "200"}), &ok);
  EXPECT_EQ(&r.counter("req_total", "Requests.", {{"route", "token"}, {"code", "200"}}), &ok);
  EXPECT_NE(&family.labels({"token", "500"}), &ok);
  // Values are not concatenated: ("ab","c") and ("a","bc") are two metrics.
  EXPECT_NE(&family.labels({"ab", "c"}), &family.labels({"a", "bc"}));
}

TEST(Metrics, MisusedFamiliesThrowInsteadOfWritingAWrongText) {
  metrics::Registry r;
  auto& family = r.counter_family("req_total", "Requests.", {"route", "code"});
  EXPECT_THROW(family.labels({"token"}), std::invalid_argument);
  EXPECT_THROW(r.counter_family("req_total", "Requests.", {"route"}), std::logic_error);
  EXPECT_THROW(r.gauge("req_total", "Requests."), std::logic_error);
}

// Threads add label sets (the table grows several times) while others count on sets already there: no count is lost.
TEST(Metrics, CountsFromManyThreadsAreAllKeptWhileTheFamilyGrows) {
  metrics::Registry r;
  auto& family = r.counter_family("req_total", "Requests.", {"namespace", "result"});
  auto& latency = r.histogram("lat_seconds", "Latency.", {0.5, 1.5});
  constexpr int kThreads = 4, kRounds = 20000, kNamespaces = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        family.labels({"ns" + std::to_string((i * 7 + t) % kNamespaces), "mutated"}).inc();
        latency.observe(i % 2);
      }
    });
  for (auto& t : threads) t.join();
  std::uint64_t total = 0;
  for (int n = 0; n < kNamespaces; ++n) total += family.labels({"ns" + std::to_string(n), "mutated"}).value();
  EXPECT_EQ(total, std::uint64_t(kThreads) * kRounds);
  auto s = latency.snapshot();
  EXPECT_EQ(s.count, std::uint64_t(kThreads) * kRounds);
  EXPECT_EQ(s.cumulative[0], std::uint64_t(kThreads) * kRounds / 2);
  EXPECT_EQ(s.cumulative[1], s.count);
  EXPECT_DOUBLE_EQ(s.sum, double(kThreads) * kRounds / 2);
  EXPECT_NE(r.render().find("req_total{namespace=\"ns199\",result=\"mutated\"} " +
                            std::to_string(kThreads * kRounds / kNamespaces) + "\n"),
            std::string::npos);
}

// A bounded family: label sets past the bound are folded into the overflow set (each bounded label replaced, the kept
// ones kept), the overflow sets themselves never count against the bound, and sets added before stay their own.
TEST(Metrics, ABoundedFamilyFoldsNewLabelSetsPastItsBoundIntoTheOverflowSet) {
  metrics::Registry r;
  auto& family = r.counter_family("req_total", "Requests.", {"tenant", "code"});
  family.bound("req_total", 2, {"_other", std::nullopt});
  family.labels({"_other", "200"}).inc();  // an overflow set sent as a value: not one of the 2
  family.labels({"a", "200"}).inc();
  family.labels({"b", "200"}).inc();
  family.labels({"c", "200"}).inc();
  family.labels({"d", "500"}).inc();
  family.labels({"e", "500"}).inc();
  family.labels({"a", "500"}).inc();  // a new set even for a known tenant: past the bound, folded
  family.labels({"b", "200"}).inc();
  EXPECT_EQ(r.render(),
            "# HELP req_total Requests.\n"
            "# TYPE req_total counter\n"
            "req_total{tenant=\"_other\",code=\"200\"} 2\n"
            "req_total{tenant=\"_other\",code=\"500\"} 3\n"
            "req_total{tenant=\"a\",code=\"200\"} 1\n"
            "req_total{tenant=\"b\",code=\"200\"} 2\n");
  EXPECT_THROW(family.bound("req_total", 2, {"_other"}), std::invalid_argument);
}

// Past the bound, requests for ever new values from many threads: every count lands in the overflow set, the family
// holds no more sets than the bound allows, and the warning is written once.
TEST(Metrics, FoldedLabelSetsFromManyThreadsAreAllCountedAndWarnedOnce) {
  metrics::Registry r;
  auto& family = r.counter_family("req_total", "Requests.", {"tenant", "code"});
  family.bound("req_total", 3, {"_other", std::nullopt});
  for (const char* t : {"a", "b", "c"}) family.labels({t, "200"}).inc();
  testing::internal::CaptureStderr();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&family, t] {
      for (int i = 0; i < 1000; ++i) {
        std::string tenant = std::to_string(t);  // built in steps: g++ 12 warns falsely on "t" + ... (GCC bug 105329)
        tenant += '-';
        tenant += std::to_string(i);
        family.labels({tenant, "200"}).inc();
      }
    });
  for (auto& th : threads) th.join();
  std::string warnings = testing::internal::GetCapturedStderr();
  std::string text = r.render();
  EXPECT_NE(text.find("req_total{tenant=\"_other\",code=\"200\"} 4000\n"), std::string::npos) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2 + 4);  // HELP, TYPE, a, b, c, _other
  EXPECT_EQ(&family.labels({"t0-1", "200"}), &family.labels({"_other", "200"}));
  std::size_t first = warnings.find("metric label sets reached their bound");
  ASSERT_NE(first, std::string::npos) << warnings;
  EXPECT_EQ(warnings.find("metric label sets reached their bound", first + 1), std::string::npos) << warnings;
}

// The warning comes with the first fold even when the overflow set was already there (a caller sent its values).
TEST(Metrics, TheFirstFoldIsWarnedEvenIntoAnOverflowSetThatExisted) {
  metrics::Registry r;
  auto& family = r.counter_family("req_total", "Requests.", {"tenant"});
  family.bound("req_total", 1, {"_other"});
  family.labels({"_other"}).inc();
  family.labels({"a"}).inc();
  testing::internal::CaptureStderr();
  family.labels({"b"}).inc();
  EXPECT_NE(testing::internal::GetCapturedStderr().find("metric label sets reached their bound"), std::string::npos);
  EXPECT_NE(r.render().find("req_total{tenant=\"_other\"} 2\n"), std::string::npos) << r.render();
}
