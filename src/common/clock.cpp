#include "common/clock.hpp"

#include <ctime>
#include <thread>

namespace azwi {
void SystemClock::sleep_for(duration d) { std::this_thread::sleep_for(d); }

std::string utc_text(Clock::time_point t) {
  std::time_t s = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char b[32];
  std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return b;
}
}  // namespace azwi
