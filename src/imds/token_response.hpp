#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace azwi::imds {

// What an IMDS token answer needs; times in Unix seconds.
struct TokenAnswer {
  std::string_view access_token;
  std::string_view client_id;
  std::string_view resource;
  std::int64_t expires_on = 0;
  std::int64_t ext_expires_on = 0;
  std::int64_t not_before = 0;
};

// Renders the IMDS shape: every number a string, expires_in recomputed from `now` (never below 1).
std::string render_token_body(const TokenAnswer& answer, std::int64_t now);

}  // namespace azwi::imds
