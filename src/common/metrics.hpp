#pragma once
// A small Prometheus registry (text exposition format 0.0.4): labelled families of counters, gauges and fixed-bucket
// histograms. Written here rather than taken from Debian's prometheus-cpp, which is shared-only and brings civetweb
// and libcurl into the static images (README, azwi-proxy).
//
// The hot path takes no lock: updating a counter, gauge or histogram is an atomic add, and finding a family's metric
// by label values (Family::labels) reads an insert-only hash table published with release/acquire. Only the first
// use of a label set takes the family's mutex, to create the metric; metrics are never removed, so a reference
// stays valid for the registry's life.
#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace azwi::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void inc(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void add(double d);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// One atomic count per bucket (the last one past every bound): observers never wait for each other or for a scrape.
// The total count is the sum of the buckets, so a scrape's +Inf bucket always equals its _count.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  struct Snapshot {
    std::vector<double> bounds;
    std::vector<std::uint64_t> cumulative;  // one per bound
    std::uint64_t count;
    double sum;
  };
  Snapshot snapshot() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // bounds_.size() + 1
  std::atomic<double> sum_{0};
};

// A metric's rendered sample lines, given the family name and its rendered label set ("" or {a="x",...}).
void render_sample(std::string& out, const std::string& name, const std::string& labels, const Counter& c);
void render_sample(std::string& out, const std::string& name, const std::string& labels, const Gauge& g);
void render_sample(std::string& out, const std::string& name, const std::string& labels, const Histogram& h);

class FamilyBase {
 public:
  virtual ~FamilyBase() = default;
  virtual void render(std::string& out, const std::string& name) const = 0;
  const std::vector<std::string>& label_names() const { return label_names_; }

 protected:
  explicit FamilyBase(std::vector<std::string> label_names) : label_names_(std::move(label_names)) {}
  std::vector<std::string> label_names_;
};

// All metrics of one name, one per set of label values (given in the order of the family's label names).
template <class Metric>
class Family final : public FamilyBase {
 public:
  Family(std::vector<std::string> label_names, std::function<std::unique_ptr<Metric>()> make);
  ~Family() override;
  Family(const Family&) = delete;
  Family& operator=(const Family&) = delete;

  // Throws std::invalid_argument when the number of values is not the number of label names.
  Metric& labels(std::initializer_list<std::string_view> values) { return labels(values.begin(), values.size()); }
  Metric& labels(const std::vector<std::string>& values);
  void render(std::string& out, const std::string& name) const override;

  // At most `max_label_sets` label sets of outside values (a namespace from a request): a new set beyond that is
  // counted under its overflow set, each label replaced by its overflow value or, where that is nullopt, kept (a
  // label whose values the program chooses). Overflow sets do not count against the bound. The first overflow is
  // logged once as a warning naming `name`. Memory stays bounded whatever values arrive, and a folded set is found
  // without the lock, as any other. Call it once, before the family's first use.
  void bound(std::string name, std::size_t max_label_sets, std::vector<std::optional<std::string>> overflow);

 private:
  struct Node;
  struct Table;
  Metric& labels(const std::string_view* values, std::size_t n);
  Metric& add(const std::string_view* values, std::size_t n, std::size_t hash);
  Metric& insert(const std::string_view* values, std::size_t n, std::size_t hash, Table* table);  // mutex held

  std::function<std::unique_ptr<Metric>()> make_;
  std::string name_;                                     // for the overflow warning
  std::size_t max_label_sets_ = SIZE_MAX;                // counted in bounded_
  std::vector<std::optional<std::string>> overflow_;     // set by bound() before any lookup, then read-only
  std::size_t bounded_ = 0;                              // label sets that are not overflow sets
  bool warned_ = false;
  std::atomic<bool> overflowing_{false};                 // a set has been folded: lookups try the folded set too
  const Node* find_folded(const std::string_view* values, std::size_t n) const;
  void fold(const std::string_view* values, std::size_t n, std::string_view* out) const;  // the overflow set's values
  std::atomic<Table*> table_;
  mutable std::mutex mutex_;                    // writers, and render
  std::vector<std::unique_ptr<Node>> nodes_;    // every metric, in the order added
  std::vector<std::unique_ptr<Table>> tables_;  // every table published: a reader may still be in an older one
};

extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;

class Registry {
 public:
  // The same name always returns the same family; asking again with another type or other label names throws
  // std::logic_error (a programming error, caught by the tests that render the metrics).
  Family<Counter>& counter_family(const std::string& name, const std::string& help, std::vector<std::string> label_names);
  Family<Gauge>& gauge_family(const std::string& name, const std::string& help, std::vector<std::string> label_names);
  Family<Histogram>& histogram_family(const std::string& name, const std::string& help,
                                      const std::vector<double>& bounds, std::vector<std::string> label_names);

  // One metric of a family by its labels, for metrics looked up once and kept (a reference stays valid).
  Counter& counter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge& gauge(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram& histogram(const std::string& name, const std::string& help, const std::vector<double>& bounds,
                       const Labels& labels = {});
  std::string render() const;

 private:
  struct Entry {
    std::string help;
    std::string type;
    std::unique_ptr<FamilyBase> family;
  };
  template <class Metric>
  Family<Metric>& family(const std::string& name, const std::string& help, const char* type,
                         std::vector<std::string> label_names, std::function<std::unique_ptr<Metric>()> make);
  mutable std::mutex mutex_;
  std::map<std::string, Entry> families_;
};

// Latency buckets in seconds, from 100 µs to 10 s.
const std::vector<double>& latency_buckets();

}  // namespace azwi::metrics
