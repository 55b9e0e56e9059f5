#include "identity/retry.hpp"

#include <algorithm>
#include <cmath>

namespace azwi::identity {

std::optional<std::chrono::milliseconds> next_retry_delay(const RetryPolicy& p, int attempts,
                                                          std::optional<std::chrono::milliseconds> retry_after,
                                                          std::chrono::milliseconds elapsed) {
  if (attempts >= p.max_attempts) return std::nullopt;
  double backoff = static_cast<double>(p.initial_delay.count()) * std::pow(p.multiplier, attempts - 1);
  auto delay = std::chrono::milliseconds(static_cast<long long>(std::min(backoff, double(p.max_delay.count()))));
  if (retry_after && *retry_after > delay) delay = *retry_after;
  if (elapsed + delay >= p.deadline) return std::nullopt;
  return delay;
}

}  // namespace azwi::identity
