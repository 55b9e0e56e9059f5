#include "emulator/faults.hpp"

#include <stdexcept>

namespace azwi::emulator {
namespace json = boost::json;

namespace {
std::int64_t int_member(const json::object& o, const char* name, std::int64_t min, std::int64_t max,
                        std::int64_t fallback) {
  auto it = o.find(name);
  if (it == o.end() || it->value().is_null()) return fallback;
  const auto& v = it->value();
  std::int64_t x = 0;
  if (v.is_int64()) x = v.as_int64();
  else if (v.is_uint64() && v.as_uint64() < static_cast<std::uint64_t>(max)) x = static_cast<std::int64_t>(v.as_uint64());
  else throw std::invalid_argument(std::string("\"") + name + "\" must be an integer");
  if (x < min || x > max)
    throw std::invalid_argument(std::string("\"") + name + "\" must be between " + std::to_string(min) + " and " +
                                std::to_string(max));
  return x;
}
}  // namespace

FaultSettings parse_fault_settings(const json::object& body) {
  static const char* known[] = {"latency_ms", "fail_next", "fail_status", "retry_after", "failure_rate",
                                "outage_seconds"};
  for (const auto& [k, _] : body) {
    bool ok = false;
    for (const char* n : known) ok = ok || k == n;
    if (!ok) throw std::invalid_argument("unknown member \"" + std::string(k) + "\"");
  }
  FaultSettings s;
  s.latency_ms = int_member(body, "latency_ms", 0, 600'000, 0);
  s.fail_next = int_member(body, "fail_next", 0, 1'000'000'000, 0);
  s.fail_status = static_cast<unsigned>(int_member(body, "fail_status", 400, 599, 503));
  s.retry_after = int_member(body, "retry_after", 0, 86'400, 0);
  s.outage_seconds = int_member(body, "outage_seconds", 0, 86'400, 0);
  if (auto it = body.find("failure_rate"); it != body.end() && !it->value().is_null()) {
    if (!it->value().is_number()) throw std::invalid_argument("\"failure_rate\" must be a number");
    s.failure_rate = it->value().to_number<double>();
    if (!(s.failure_rate >= 0.0 && s.failure_rate <= 1.0))
      throw std::invalid_argument("\"failure_rate\" must be between 0.0 and 1.0");
  }
  return s;
}

Faults::Faults(Clock& clock) : clock_(clock) {}

void Faults::apply(const FaultSettings& settings) {
  std::lock_guard lock(mutex_);
  settings_ = settings;
  outage_until_ = clock_.now() + std::chrono::seconds(settings.outage_seconds);
}

void Faults::clear() { apply(FaultSettings{}); }

FaultDecision Faults::decide() {
  std::lock_guard lock(mutex_);
  FaultDecision d;
  d.latency = std::chrono::milliseconds(settings_.latency_ms);
  if (clock_.now() < outage_until_) {
    d.fail_status = 503;
    d.retry_after = settings_.retry_after;
    d.reason = "outage";
  } else if (settings_.fail_next > 0) {
    --settings_.fail_next;
    d.fail_status = settings_.fail_status;
    d.retry_after = settings_.retry_after;
    d.reason = "fail_next";
  } else if (settings_.failure_rate > 0 &&
             std::uniform_real_distribution<double>(0.0, 1.0)(rng_) < settings_.failure_rate) {
    d.fail_status = settings_.fail_status;
    d.retry_after = settings_.retry_after;
    d.reason = "failure_rate";
  }
  return d;
}

json::object Faults::describe() const {
  std::lock_guard lock(mutex_);
  json::object o;
  o["latency_ms"] = settings_.latency_ms;
  o["fail_next"] = settings_.fail_next;
  o["fail_status"] = settings_.fail_status;
  o["retry_after"] = settings_.retry_after;
  o["failure_rate"] = settings_.failure_rate;
  auto left = std::chrono::duration_cast<std::chrono::seconds>(outage_until_ - clock_.now()).count();
  o["outage_seconds_left"] = left > 0 ? left : 0;
  return o;
}

}  // namespace azwi::emulator
