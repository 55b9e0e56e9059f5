#include "emulator/issuer.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "jwt/jwks.hpp"

namespace azwi::emulator {
namespace json = boost::json;

Reply json_error(unsigned status, const std::string& code, const std::string& description) {
  json::object o;
  o["error"] = code;
  o["error_description"] = description;
  return json_reply(status, json::serialize(o));
}

OidcIssuer::OidcIssuer(std::string issuer, KeyRing& keys, Clock& clock, std::int64_t clock_skew)
    : issuer_(std::move(issuer)), keys_(keys), clock_(clock), clock_skew_(clock_skew) {
  std::string_view s = issuer_;
  if (auto p = s.find("://"); p != std::string_view::npos) s.remove_prefix(p + 3);
  auto slash = s.find('/');
  path_prefix_ = slash == std::string_view::npos ? "" : std::string(s.substr(slash));
  while (path_prefix_.ends_with('/')) path_prefix_.pop_back();
}

std::optional<Reply> OidcIssuer::handle(std::string_view method, std::string_view path) {
  bool discovery = path == path_prefix_ + "/.well-known/openid-configuration";
  bool jwks = path == path_prefix_ + "/openid/v1/jwks";
  if (!discovery && !jwks) return std::nullopt;
  if (method != "GET" && method != "HEAD") {
    Reply r = json_error(405, "method_not_allowed", "only GET is served here");
    r.headers.emplace_back("Allow", "GET, HEAD");
    return r;
  }
  if (discovery) {
    json::object o;
    o["issuer"] = issuer_;
    o["jwks_uri"] = jwks_uri();
    o["response_types_supported"] = json::array{"id_token"};
    o["subject_types_supported"] = json::array{"public"};
    o["id_token_signing_alg_values_supported"] = json::array{"RS256", "ES256"};
    return json_reply(200, json::serialize(o));
  }
  Reply r = json_reply(200, jwt::render_jwks(keys_.published(unix_seconds(clock_.now()), clock_skew_)));
  r.content_type = "application/jwk-set+json";
  return r;
}

}  // namespace azwi::emulator
