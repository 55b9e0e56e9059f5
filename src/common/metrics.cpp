#include "common/metrics.hpp"

#include <algorithm>
#include <cstdio>

namespace azwi::metrics {
namespace {
std::string label_text(const Labels& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i) out += ',';
    out += labels[i].first + "=\"";
    for (char c : labels[i].second) {
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
}  // namespace

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size(), 0) {}

void Histogram::observe(double v) {
  std::lock_guard lock(mutex_);
  auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);
  if (it != bounds_.end()) ++counts_[static_cast<size_t>(it - bounds_.begin())];
  ++count_;
  sum_ += v;
}

Histogram::Snapshot Histogram::snapshot() const {
  std::lock_guard lock(mutex_);
  Snapshot s{bounds_, {}, count_, sum_};
  std::uint64_t run = 0;
  for (auto c : counts_) s.cumulative.push_back(run += c);
  return s;
}

Registry::Family& Registry::family(const std::string& name, const std::string& help, const std::string& type) {
  auto& f = families_[name];
  if (f.type.empty()) {
    f.help = help;
    f.type = type;
  }
  return f;
}

Counter& Registry::counter(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard lock(mutex_);
  auto& slot = family(name, help, "counter").counters[label_text(labels)];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& Registry::gauge(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard lock(mutex_);
  auto& slot = family(name, help, "gauge").gauges[label_text(labels)];
  if (!slot) slot = std::make_unique<Gauge>();
  return *slot;
}

Histogram& Registry::histogram(const std::string& name, const std::string& help, const std::vector<double>& bounds,
                               const Labels& labels) {
  std::lock_guard lock(mutex_);
  auto& slot = family(name, help, "histogram").histograms[label_text(labels)];
  if (!slot) slot = std::make_unique<Histogram>(bounds);
  return *slot;
}

std::string Registry::render() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& [name, f] : families_) {
    out += "# HELP " + name + " " + f.help + "\n# TYPE " + name + " " + f.type + "\n";
    for (const auto& [labels, c] : f.counters) out += name + labels + " " + std::to_string(c->value()) + "\n";
    for (const auto& [labels, g] : f.gauges) out += name + labels + " " + number(g->value()) + "\n";
    for (const auto& [labels, h] : f.histograms) {
      auto s = h->snapshot();
      for (size_t i = 0; i < s.bounds.size(); ++i)
        out += name + "_bucket" + with_label(labels, "le=\"" + number(s.bounds[i]) + "\"") + " " +
               std::to_string(s.cumulative[i]) + "\n";
      out += name + "_bucket" + with_label(labels, "le=\"+Inf\"") + " " + std::to_string(s.count) + "\n";
      out += name + "_sum" + labels + " " + number(s.sum) + "\n";
      out += name + "_count" + labels + " " + std::to_string(s.count) + "\n";
    }
  }
  return out;
}

const std::vector<double>& latency_buckets() {
  static const std::vector<double> b{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                     0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5, 5, 10};
  return b;
}

}  // namespace azwi::metrics
