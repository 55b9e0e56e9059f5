#pragma once
// The IMDS managed-identity token request: which requests count as one, and the rules real IMDS enforces on them.
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "imds/errors.hpp"

namespace azwi::imds {

// True for /metadata/identity/oauth2/token (the /metadata segment in any case, one trailing slash allowed),
// with or without a query string.
bool is_token_path(std::string_view target);

struct TokenRequest {
  std::string resource;
  std::string client_id;  // as given, or the default identity
  std::string api_version;
};

struct RequestView {
  std::string_view method;
  std::string_view target;  // origin-form: path + optional query
  std::optional<std::string_view> metadata_header;
  bool has_forwarded_for = false;
};

// The query both protocols share (IMDS here, App Service in imds/app_service.hpp): api-version and resource required,
// the first occurrence of each winning; the identity from client_id, else default_client_id; other identity
// selectors refused, since identities are federated by client ID.
std::variant<TokenRequest, Error> parse_token_query(std::string_view target, std::string_view default_client_id);

// Validates a token request in the order real IMDS does; default_client_id is AZURE_CLIENT_ID (may be empty).
std::variant<TokenRequest, Error> parse_token_request(const RequestView& request, std::string_view default_client_id);

}  // namespace azwi::imds
