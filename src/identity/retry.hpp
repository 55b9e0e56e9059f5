#pragma once
// Exponential backoff that honours Retry-After and stays inside an overall deadline. Pure, for unit tests.
#include <chrono>
#include <optional>

namespace azwi::identity {

struct RetryPolicy {
  int max_attempts = 4;
  std::chrono::milliseconds initial_delay{500};
  double multiplier = 2.0;
  std::chrono::milliseconds max_delay{8'000};
  std::chrono::milliseconds deadline{20'000};  // from the first attempt to the last answer
};

// The wait before the next attempt after `attempts` failed ones (1-based), or nullopt to give up: when the
// attempts are spent, or when waiting would cross the deadline. A Retry-After longer than the backoff wins.
std::optional<std::chrono::milliseconds> next_retry_delay(const RetryPolicy& policy, int attempts,
                                                          std::optional<std::chrono::milliseconds> retry_after,
                                                          std::chrono::milliseconds elapsed);

}  // namespace azwi::identity
