#include "common/clock.hpp"

#include <thread>

namespace azwi {
void SystemClock::sleep_for(duration d) { std::this_thread::sleep_for(d); }
}  // namespace azwi
