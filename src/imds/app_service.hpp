#pragma once
// The App Service managed-identity protocol (api-version 2019-08-01), which the Azure SDKs use before IMDS when
// IDENTITY_ENDPOINT and IDENTITY_HEADER are set: the same token query as IMDS, guarded by a per-pod secret instead of
// the Metadata header, and errors in App Service's shape.
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "imds/errors.hpp"
#include "imds/token_request.hpp"

namespace azwi::imds {

inline constexpr std::string_view kAppServiceApiVersion = "2019-08-01";
inline constexpr std::string_view kIdentityHeaderName = "X-IDENTITY-HEADER";
// The endpoint's path on the sidecar's loopback port (IDENTITY_ENDPOINT=http://127.0.0.1:<port>/msi/token).
inline constexpr std::string_view kAppServicePath = "/msi/token";

// True for /msi/token (one trailing slash allowed), with or without a query string.
bool is_app_service_path(std::string_view target);

struct AppServiceRequestView {
  std::string_view method;
  std::string_view target;
  std::optional<std::string_view> identity_header;  // X-IDENTITY-HEADER as sent
};

// GET only (405); the header must equal `secret`, compared in constant time (missing or wrong: 401, the value never
// repeated); api-version 2019-08-01 (400 otherwise); then the query rules of parse_token_query.
std::variant<TokenRequest, Error> parse_app_service_request(const AppServiceRequestView& request,
                                                            std::string_view secret,
                                                            std::string_view default_client_id);

// {"statusCode","message"} as App Service writes errors, with "error" and "error_description" as well: SDKs read
// either pair.
std::string render_app_service_error_body(const Error& e);

}  // namespace azwi::imds
