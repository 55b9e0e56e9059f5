#include <gtest/gtest.h>

#include "identity/retry.hpp"

using namespace azwi::identity;
using ms = std::chrono::milliseconds;

TEST(Retry, ExponentialBackoffCappedAndBounded) {
  RetryPolicy p{5, ms(500), 2.0, ms(1500), ms(60'000)};
  EXPECT_EQ(next_retry_delay(p, 1, std::nullopt, ms(0)), ms(500));
  EXPECT_EQ(next_retry_delay(p, 2, std::nullopt, ms(0)), ms(1000));
  EXPECT_EQ(next_retry_delay(p, 3, std::nullopt, ms(0)), ms(1500));
  EXPECT_EQ(next_retry_delay(p, 4, std::nullopt, ms(0)), ms(1500));
  EXPECT_EQ(next_retry_delay(p, 5, std::nullopt, ms(0)), std::nullopt);
}

TEST(Retry, RetryAfterWinsWhenLonger) {
  RetryPolicy p{5, ms(500), 2.0, ms(8000), ms(60'000)};
  EXPECT_EQ(next_retry_delay(p, 1, ms(3000), ms(0)), ms(3000));
  EXPECT_EQ(next_retry_delay(p, 1, ms(100), ms(0)), ms(500));
}

TEST(Retry, NeverWaitsPastTheDeadline) {
  RetryPolicy p{10, ms(500), 2.0, ms(8000), ms(5000)};
  EXPECT_EQ(next_retry_delay(p, 1, std::nullopt, ms(4000)), ms(500));
  EXPECT_EQ(next_retry_delay(p, 1, std::nullopt, ms(4600)), std::nullopt);
  EXPECT_EQ(next_retry_delay(p, 1, ms(30'000), ms(0)), std::nullopt);
}
