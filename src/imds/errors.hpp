#pragma once
// IMDS error answers: HTTP status plus the JSON body {"error","error_description"} that clients parse.
#include <optional>
#include <string>

namespace azwi::imds {

struct Error {
  unsigned status = 400;
  std::string error;        // e.g. invalid_request
  std::string description;  // human-readable reason
  std::optional<long> retry_after_seconds;  // sent as Retry-After on 429/503 when known
};

std::string render_error_body(const Error& e);

}  // namespace azwi::imds
