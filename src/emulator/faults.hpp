#pragma once
// Fault injection on the token endpoint for tests and demos: added latency, the next N requests failing, a random
// failure rate, and an outage window. Settable at start (flags) and at run time (PUT /_emulator/faults).
#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <random>
#include <string>

#include "common/clock.hpp"

namespace azwi::emulator {

struct FaultSettings {
  std::int64_t latency_ms = 0;
  std::int64_t fail_next = 0;
  unsigned fail_status = 503;
  std::int64_t retry_after = 0;  // seconds; 0: no Retry-After header
  double failure_rate = 0.0;
  std::int64_t outage_seconds = 0;  // from the moment the setting is applied
};

// Parses the PUT body; throws std::invalid_argument naming the bad member. Absent members keep their defaults.
FaultSettings parse_fault_settings(const boost::json::object& body);

struct FaultDecision {
  std::chrono::milliseconds latency{0};
  std::optional<unsigned> fail_status;  // set: answer with this error instead of handling the request
  std::int64_t retry_after = 0;
  std::string reason;                   // "fail_next", "failure_rate" or "outage"
};

class Faults {
 public:
  explicit Faults(Clock& clock);
  void apply(const FaultSettings& settings);  // replaces the current settings
  void clear();
  // Decides the fate of one token request (consumes one fail_next).
  FaultDecision decide();
  boost::json::object describe() const;

 private:
  Clock& clock_;
  mutable std::mutex mutex_;
  FaultSettings settings_;
  Clock::time_point outage_until_{};
  std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace azwi::emulator
