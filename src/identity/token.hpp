#pragma once
// What the proxy knows about a token it obtained from Entra ID, and why an attempt to obtain one failed.
#include <chrono>
#include <optional>
#include <string>
#include <variant>

#include "common/clock.hpp"

namespace azwi::identity {

struct TokenKey {
  std::string tenant;
  std::string client_id;
  std::string scope;
  bool operator==(const TokenKey&) const = default;
};

struct AccessToken {
  std::string value;  // secret: never logged
  Clock::time_point issued_at;
  Clock::time_point expires_on;
  Clock::time_point ext_expires_on;
  Clock::time_point refresh_at;  // from refresh_in when Entra sends it, else a share of the lifetime
  Clock::time_point usable_until;  // past this the token is not handed out any more
};

// Fills refresh_at and usable_until from the lifetime: refresh_in wins; tokens of two hours or more refresh at
// half-life (as MSAL does); shorter ones ten minutes before expiry, but never before half-life.
AccessToken make_access_token(std::string value, Clock::time_point issued_at, std::chrono::seconds expires_in,
                              std::optional<std::chrono::seconds> ext_expires_in,
                              std::optional<std::chrono::seconds> refresh_in);

struct TokenError {
  enum class Kind {
    rejected,     // Entra answered 4xx (other than 429): the request or the federation is wrong
    throttled,    // 429 after the retries
    unavailable,  // 5xx, connection failure: Entra or the path to it is down
    timeout,      // no answer within the deadline
    local,        // the proxy could not even ask: token file unreadable, bad configuration
  };
  Kind kind;
  std::string error;        // Entra's error code string, or ours
  std::string description;  // Entra's AADSTS... description, or ours
  std::optional<std::chrono::seconds> retry_after;
};

using FetchResult = std::variant<AccessToken, TokenError>;

std::string_view kind_name(TokenError::Kind);

}  // namespace azwi::identity
