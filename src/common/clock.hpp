#pragma once
// Time reaches logic only through this interface, so expiry, refresh and backoff can be tested on a simulated clock.
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>

namespace azwi {

class Clock {
 public:
  using time_point = std::chrono::system_clock::time_point;
  using duration = std::chrono::system_clock::duration;
  virtual ~Clock() = default;
  virtual time_point now() const = 0;
  // Blocks the calling thread (used only on worker threads, e.g. between retries).
  virtual void sleep_for(duration d) = 0;
};

class SystemClock final : public Clock {
 public:
  time_point now() const override { return std::chrono::system_clock::now(); }
  void sleep_for(duration d) override;
};

// A clock that moves only when told to; sleep_for advances it at once.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(time_point start = time_point(std::chrono::seconds(1'700'000'000))) : now_(start) {}
  time_point now() const override {
    std::lock_guard lock(mutex_);
    return now_;
  }
  void sleep_for(duration d) override { advance(d); }
  void advance(duration d) {
    std::lock_guard lock(mutex_);
    now_ += d;
    slept_ += d;
  }
  duration total_slept() const {
    std::lock_guard lock(mutex_);
    return slept_;
  }

 private:
  mutable std::mutex mutex_;
  time_point now_;
  duration slept_{};
};

inline std::int64_t unix_seconds(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// "2026-12-01T15:04:05Z" (whole seconds, UTC): certificate dates in messages and logs.
std::string utc_text(Clock::time_point t);

}  // namespace azwi
