#include "imds/app_service.hpp"

#include <openssl/crypto.h>

#include "common/json_text.hpp"

namespace azwi::imds {
namespace {
Error refused(std::string description) { return Error{401, "unauthorized", std::move(description), std::nullopt}; }

// The secret's length is no secret (it is fixed); its bytes are compared without an early exit.
bool same_secret(std::string_view given, std::string_view secret) {
  return given.size() == secret.size() && CRYPTO_memcmp(given.data(), secret.data(), secret.size()) == 0;
}
}  // namespace

bool is_app_service_path(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  if (path.size() == kAppServicePath.size() + 1 && path.back() == '/') path.remove_suffix(1);
  return path == kAppServicePath;
}

std::variant<TokenRequest, Error> parse_app_service_request(const AppServiceRequestView& req,
                                                            std::string_view secret,
                                                            std::string_view default_client_id) {
  if (req.method != "GET") {
    return Error{405, "invalid_request", "the identity endpoint accepts only GET; got " + std::string(req.method),
                 std::nullopt};
  }
  if (!req.identity_header) return refused("the X-IDENTITY-HEADER header is missing");
  if (secret.empty() || !same_secret(*req.identity_header, secret))
    return refused("the X-IDENTITY-HEADER header does not match this pod's IDENTITY_HEADER");
  auto parsed = parse_token_query(req.target, default_client_id);
  if (auto* request = std::get_if<TokenRequest>(&parsed); request && request->api_version != kAppServiceApiVersion)
    return Error{400, "invalid_request",
                 "api-version " + request->api_version + " is not supported: this endpoint speaks " +
                     std::string(kAppServiceApiVersion),
                 std::nullopt};
  return parsed;
}

std::string render_app_service_error_body(const Error& e) {
  std::string out = "{\"statusCode\":";
  out += std::to_string(e.status);
  out += ",\"message\":";
  json_text::append_quoted(out, e.description);
  out += ",\"error\":";
  json_text::append_quoted(out, e.error);
  out += ",\"error_description\":";
  json_text::append_quoted(out, e.description);
  out += '}';
  return out;
}

}  // namespace azwi::imds
