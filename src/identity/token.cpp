#include "identity/token.hpp"

#include <algorithm>

namespace azwi::identity {
using namespace std::chrono_literals;

AccessToken make_access_token(std::string value, Clock::time_point issued_at, std::chrono::seconds expires_in,
                              std::optional<std::chrono::seconds> ext_expires_in,
                              std::optional<std::chrono::seconds> refresh_in) {
  AccessToken t;
  t.value = std::move(value);
  t.issued_at = issued_at;
  t.expires_on = issued_at + expires_in;
  t.ext_expires_on = issued_at + std::max(expires_in, ext_expires_in.value_or(expires_in));
  std::chrono::seconds refresh_after;
  if (refresh_in && *refresh_in > 0s && *refresh_in < expires_in) {
    refresh_after = *refresh_in;
  } else if (expires_in >= 2h) {
    refresh_after = expires_in / 2;
  } else {
    refresh_after = std::max(expires_in / 2, expires_in - std::chrono::seconds(10min));
  }
  t.refresh_at = issued_at + refresh_after;
  // Hand out a token only while a client still has a useful share of it left.
  t.usable_until = t.expires_on - std::min<std::chrono::seconds>(60s, expires_in / 10);
  return t;
}

std::string_view kind_name(TokenError::Kind k) {
  switch (k) {
    case TokenError::Kind::rejected: return "rejected";
    case TokenError::Kind::throttled: return "throttled";
    case TokenError::Kind::unavailable: return "unavailable";
    case TokenError::Kind::timeout: return "timeout";
    case TokenError::Kind::local: return "local";
  }
  return "unknown";
}

}  // namespace azwi::identity
