#include "common/metrics.hpp"

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <stdexcept>

#include "common/log.hpp"

namespace azwi::metrics {
namespace {
std::string label_text(const std::vector<std::string>& names, const std::string_view* values) {
  if (names.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) out += ',';
    out += names[i] + "=\"";
    for (char c : values[i]) {
      if (c == '\\' || c == '"') out += '\\';
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

std::string number(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

// Adds one more label to an already rendered label set (for histogram buckets).
std::string with_label(const std::string& labels, const std::string& extra) {
  if (labels.empty()) return "{" + extra + "}";
  return labels.substr(0, labels.size() - 1) + "," + extra + "}";
}

std::size_t hash_values(const std::string_view* values, std::size_t n) {
  std::size_t h = 0xcbf29ce484222325ull;
  for (std::size_t i = 0; i < n; ++i) h = (h ^ std::hash<std::string_view>{}(values[i])) * 0x100000001b3ull;
  return h;
}
}  // namespace

void Gauge::add(double d) { value_.fetch_add(d, std::memory_order_relaxed); }

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {}

void Histogram::observe(double v) {
  auto bucket = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s{bounds_, {}, 0, sum_.load(std::memory_order_relaxed)};
  std::uint64_t run = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) s.cumulative.push_back(run += buckets_[i].load(std::memory_order_relaxed));
  s.count = run + buckets_[bounds_.size()].load(std::memory_order_relaxed);
  return s;
}

void render_sample(std::string& out, const std::string& name, const std::string& labels, const Counter& c) {
  out += name + labels + " " + std::to_string(c.value()) + "\n";
}

void render_sample(std::string& out, const std::string& name, const std::string& labels, const Gauge& g) {
  out += name + labels + " " + number(g.value()) + "\n";
}

void render_sample(std::string& out, const std::string& name, const std::string& labels, const Histogram& h) {
  auto s = h.snapshot();
  for (size_t i = 0; i < s.bounds.size(); ++i)
    out += name + "_bucket" + with_label(labels, "le=\"" + number(s.bounds[i]) + "\"") + " " +
           std::to_string(s.cumulative[i]) + "\n";
  out += name + "_bucket" + with_label(labels, "le=\"+Inf\"") + " " + std::to_string(s.count) + "\n";
  out += name + "_sum" + labels + " " + number(s.sum) + "\n";
  out += name + "_count" + labels + " " + std::to_string(s.count) + "\n";
}

template <class Metric>
struct Family<Metric>::Node {
  std::size_t hash;
  std::vector<std::string> values;
  std::string text;  // the rendered label set
  std::unique_ptr<Metric> metric;
  bool matches(const std::string_view* v, std::size_t n) const {
    for (std::size_t i = 0; i < n; ++i)
      if (values[i] != v[i]) return false;
    return true;
  }
};

// Open addressing, linear probing, at most half full. A slot goes from null to a node once and never changes again.
template <class Metric>
struct Family<Metric>::Table {
  explicit Table(std::size_t capacity)
      : mask(capacity - 1), slots(std::make_unique<std::atomic<Node*>[]>(capacity)) {}
  std::size_t mask;
  std::unique_ptr<std::atomic<Node*>[]> slots;
  Node* find(const std::string_view* values, std::size_t n, std::size_t hash) const {
    for (std::size_t i = 0; i <= mask; ++i) {
      Node* node = slots[(hash + i) & mask].load(std::memory_order_acquire);
      if (!node) return nullptr;
      if (node->hash == hash && node->matches(values, n)) return node;
    }
    return nullptr;
  }
  void insert(Node* node) {
    for (std::size_t i = 0;; ++i) {
      auto& slot = slots[(node->hash + i) & mask];
      if (!slot.load(std::memory_order_relaxed)) return slot.store(node, std::memory_order_release);
    }
  }
};

template <class Metric>
Family<Metric>::Family(std::vector<std::string> label_names, std::function<std::unique_ptr<Metric>()> make)
    : FamilyBase(std::move(label_names)), make_(std::move(make)) {
  tables_.push_back(std::make_unique<Table>(16));
  table_.store(tables_.back().get(), std::memory_order_release);
}

template <class Metric>
Family<Metric>::~Family() = default;

template <class Metric>
Metric& Family<Metric>::labels(const std::vector<std::string>& values) {
  std::vector<std::string_view> views(values.begin(), values.end());
  return labels(views.data(), views.size());
}

template <class Metric>
Metric& Family<Metric>::labels(const std::string_view* values, std::size_t n) {
  if (n != label_names_.size())
    throw std::invalid_argument("metric family with " + std::to_string(label_names_.size()) + " labels given " +
                                std::to_string(n) + " values");
  std::size_t hash = hash_values(values, n);
  if (Node* node = table_.load(std::memory_order_acquire)->find(values, n, hash)) return *node->metric;
  if (overflowing_.load(std::memory_order_acquire))
    if (const Node* node = find_folded(values, n)) return *node->metric;
  return add(values, n, hash);
}

template <class Metric>
const typename Family<Metric>::Node* Family<Metric>::find_folded(const std::string_view* values, std::size_t n) const {
  std::string_view small[8];  // no allocation on the request path for the families this program has
  std::vector<std::string_view> large;
  std::string_view* folded = small;
  if (n > std::size(small)) {
    large.resize(n);
    folded = large.data();
  }
  fold(values, n, folded);
  return table_.load(std::memory_order_acquire)->find(folded, n, hash_values(folded, n));
}

template <class Metric>
void Family<Metric>::fold(const std::string_view* values, std::size_t n, std::string_view* out) const {
  for (std::size_t i = 0; i < n; ++i) out[i] = overflow_[i] ? std::string_view(*overflow_[i]) : values[i];
}

template <class Metric>
void Family<Metric>::bound(std::string name, std::size_t max_label_sets,
                           std::vector<std::optional<std::string>> overflow) {
  if (overflow.size() != label_names_.size())
    throw std::invalid_argument("metric family with " + std::to_string(label_names_.size()) + " labels given " +
                                std::to_string(overflow.size()) + " overflow values");
  std::lock_guard lock(mutex_);
  name_ = std::move(name);
  max_label_sets_ = max_label_sets;
  overflow_ = std::move(overflow);
}

template <class Metric>
Metric& Family<Metric>::add(const std::string_view* values, std::size_t n, std::size_t hash) {
  std::lock_guard lock(mutex_);
  Table* table = table_.load(std::memory_order_relaxed);  // only changed under the mutex
  if (Node* node = table->find(values, n, hash)) return *node->metric;  // another thread added it meanwhile
  bool is_overflow_set = !overflow_.empty();
  for (std::size_t i = 0; i < overflow_.size() && is_overflow_set; ++i)
    is_overflow_set = !overflow_[i] || *overflow_[i] == values[i];
  if (!is_overflow_set && bounded_ >= max_label_sets_) {
    if (!warned_) {
      warned_ = true;
      log::Logger("metrics").warn("metric label sets reached their bound; new label values are counted together",
                                  {{"metric", name_}, {"label_sets", max_label_sets_}});
    }
    overflowing_.store(true, std::memory_order_release);
    std::vector<std::string_view> folded(n);
    fold(values, n, folded.data());
    std::size_t folded_hash = hash_values(folded.data(), n);
    if (Node* node = table->find(folded.data(), n, folded_hash)) return *node->metric;
    return insert(folded.data(), n, folded_hash, table);
  }
  if (!is_overflow_set) ++bounded_;
  return insert(values, n, hash, table);
}

template <class Metric>
Metric& Family<Metric>::insert(const std::string_view* values, std::size_t n, std::size_t hash, Table* table) {
  auto node = std::make_unique<Node>(Node{hash, std::vector<std::string>(values, values + n),
                                          label_text(label_names_, values), make_()});
  if ((nodes_.size() + 1) * 2 > table->mask + 1) {
    // Readers still in the old table find no new entry there and come here, where the new table has it.
    auto bigger = std::make_unique<Table>((table->mask + 1) * 2);
    for (const auto& old : nodes_) bigger->insert(old.get());
    table = bigger.get();
    tables_.push_back(std::move(bigger));
  }
  Metric& metric = *node->metric;
  table->insert(node.get());
  nodes_.push_back(std::move(node));
  table_.store(table, std::memory_order_release);
  return metric;
}

template <class Metric>
void Family<Metric>::render(std::string& out, const std::string& name) const {
  std::lock_guard lock(mutex_);
  std::vector<const Node*> sorted;
  for (const auto& node : nodes_) sorted.push_back(node.get());
  std::sort(sorted.begin(), sorted.end(), [](const Node* a, const Node* b) { return a->text < b->text; });
  for (const Node* node : sorted) render_sample(out, name, node->text, *node->metric);
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

template <class Metric>
Family<Metric>& Registry::family(const std::string& name, const std::string& help, const char* type,
                                 std::vector<std::string> label_names, std::function<std::unique_ptr<Metric>()> make) {
  std::lock_guard lock(mutex_);
  auto it = families_.find(name);
  if (it == families_.end()) {
    auto family = std::make_unique<Family<Metric>>(std::move(label_names), std::move(make));
    it = families_.emplace(name, Entry{help, type, std::move(family)}).first;
  } else if (it->second.type != type || it->second.family->label_names() != label_names) {
    throw std::logic_error("metric " + name + " asked for as another type or with other labels");
  }
  return static_cast<Family<Metric>&>(*it->second.family);
}

Family<Counter>& Registry::counter_family(const std::string& name, const std::string& help,
                                          std::vector<std::string> label_names) {
  return family<Counter>(name, help, "counter", std::move(label_names), [] { return std::make_unique<Counter>(); });
}

Family<Gauge>& Registry::gauge_family(const std::string& name, const std::string& help,
                                      std::vector<std::string> label_names) {
  return family<Gauge>(name, help, "gauge", std::move(label_names), [] { return std::make_unique<Gauge>(); });
}

Family<Histogram>& Registry::histogram_family(const std::string& name, const std::string& help,
                                              const std::vector<double>& bounds, std::vector<std::string> label_names) {
  return family<Histogram>(name, help, "histogram", std::move(label_names),
                           [bounds] { return std::make_unique<Histogram>(bounds); });
}

namespace {
std::vector<std::string> names_of(const Labels& labels) {
  std::vector<std::string> out;
  for (const auto& [name, value] : labels) out.push_back(name);
  return out;
}
std::vector<std::string> values_of(const Labels& labels) {
  std::vector<std::string> out;
  for (const auto& [name, value] : labels) out.push_back(value);
  return out;
}
}  // namespace

Counter& Registry::counter(const std::string& name, const std::string& help, const Labels& labels) {
  return counter_family(name, help, names_of(labels)).labels(values_of(labels));
}

Gauge& Registry::gauge(const std::string& name, const std::string& help, const Labels& labels) {
  return gauge_family(name, help, names_of(labels)).labels(values_of(labels));
}

Histogram& Registry::histogram(const std::string& name, const std::string& help, const std::vector<double>& bounds,
                               const Labels& labels) {
  return histogram_family(name, help, bounds, names_of(labels)).labels(values_of(labels));
}

std::string Registry::render() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& [name, entry] : families_) {
    out += "# HELP " + name + " " + entry.help + "\n# TYPE " + name + " " + entry.type + "\n";
    entry.family->render(out, name);
  }
  return out;
}

const std::vector<double>& latency_buckets() {
  static const std::vector<double> b{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                     0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5, 5, 10};
  return b;
}

}  // namespace azwi::metrics
