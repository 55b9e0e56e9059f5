#include "emulator/entra.hpp"

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <cstdio>
#include <ctime>

#include "common/base64.hpp"
#include "jwt/digest.hpp"
#include "jwt/jwks.hpp"
#include "jwt/jws.hpp"

namespace azwi::emulator {
namespace json = boost::json;

namespace {

constexpr std::string_view kAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
constexpr std::string_view kDefaultSuffix = "/.default";

std::string utc(std::int64_t secs, const char* format) {
  std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}
// Entra writes instants in its messages with seven fractional digits.
std::string instant(std::int64_t secs) { return utc(secs, "%Y-%m-%dT%H:%M:%S") + ".0000000Z"; }

std::vector<std::string> audiences(const json::object& claims) {
  std::vector<std::string> out;
  auto it = claims.find("aud");
  if (it == claims.end()) return out;
  if (it->value().is_string()) out.emplace_back(it->value().as_string());
  if (it->value().is_array())
    for (const auto& v : it->value().as_array())
      if (v.is_string()) out.emplace_back(v.as_string());
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

// "host:port" of the base URL, the name MSAL's instance metadata lists.
std::string authority_host(const std::string& base_url) {
  std::string_view s = base_url;
  if (auto p = s.find("://"); p != std::string_view::npos) s.remove_prefix(p + 3);
  return std::string(s.substr(0, s.find('/')));
}

}  // namespace

EntraAnswer entra_error(unsigned status, std::string error, int code, const std::string& message,
                        const std::string& base_url, Clock::time_point now, std::string_view correlation_id) {
  std::int64_t secs = unix_seconds(now);
  std::string trace = jwt::random_uuid();
  std::string correlation = correlation_id.empty() ? jwt::random_uuid() : std::string(correlation_id);
  std::string stamp = utc(secs, "%Y-%m-%d %H:%M:%SZ");
  json::object o;
  o["error"] = error;
  o["error_description"] = "AADSTS" + std::to_string(code) + ": " + message + "\r\nTrace ID: " + trace +
                           "\r\nCorrelation ID: " + correlation + "\r\nTimestamp: " + stamp;
  o["error_codes"] = json::array{code};
  o["timestamp"] = stamp;
  o["trace_id"] = trace;
  o["correlation_id"] = correlation;
  o["error_uri"] = base_url + "error?code=" + std::to_string(code);
  EntraAnswer a;
  a.status = status;
  a.body = json::serialize(o);
  a.error = std::move(error);
  a.error_code = code;
  return a;
}

EntraService::EntraService(Directory directory, JwksCache& jwks, KeyRing& keys, Clock& clock, EntraOptions options)
    : store_(std::move(directory)), jwks_(jwks), keys_(keys), clock_(clock), options_(std::move(options)) {}

EntraAnswer EntraService::token(std::string_view tenant_name, std::string_view content_type, std::string_view body,
                                std::string_view correlation_id) {
  auto now_tp = clock_.now();
  std::int64_t now = unix_seconds(now_tp);
  std::string client_id, subject;
  auto fail = [&](unsigned status, std::string error, int code, const std::string& message) {
    EntraAnswer a = entra_error(status, std::move(error), code, message, options_.base_url, now_tp, correlation_id);
    a.client_id = client_id;
    a.subject = subject;
    return a;
  };

  auto directory = store_.snapshot();
  const Tenant* tenant = directory->find_tenant(tenant_name);
  if (!tenant)
    return fail(400, "invalid_request", 90002,
                "Tenant '" + std::string(tenant_name) +
                    "' not found. Check to make sure you have the correct tenant ID and are signing into the correct "
                    "cloud. Check with your subscription administrator, this may happen if there are no active "
                    "subscriptions for the tenant.");

  std::optional<Form> parsed;
  if (content_type.starts_with("application/x-www-form-urlencoded")) parsed = parse_form(body);
  if (!parsed)
    return fail(400, "invalid_request", 900144,
                "The request body must contain the following parameter: 'grant_type'.");
  const Form& form = *parsed;
  auto param = [&](const char* name) -> std::string {
    auto it = form.find(name);
    return it == form.end() ? std::string() : it->second;
  };
  client_id = param("client_id");
  std::string grant_type = param("grant_type");
  std::string scope = param("scope");
  for (const char* required : {"grant_type", "client_id", "scope"})
    if (param(required).empty())
      return fail(400, "invalid_request", 900144,
                  std::string("The request body must contain the following parameter: '") + required + "'.");
  if (grant_type != "client_credentials")
    return fail(400, "unsupported_grant_type", 70003,
                "The app requested an unsupported grant type '" + grant_type + "'.");

  const Identity* identity = tenant->find_identity(client_id);
  if (!identity)
    return fail(400, "unauthorized_client", 700016,
                "Application with identifier '" + client_id + "' was not found in the directory '" + tenant->id +
                    "'. This can happen if the application has not been installed by the administrator of the "
                    "tenant or consented to by any user in the tenant. You may have sent your authentication "
                    "request to the wrong tenant.");

  std::string assertion = param("client_assertion");
  if (assertion.empty() || param("client_assertion_type") != kAssertionType)
    return fail(401, "invalid_client", 7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");

  // Client credentials take exactly one resource, named by a "<resource>/.default" scope.
  std::vector<std::string> scopes;
  for (std::size_t pos = 0; pos < scope.size();) {
    auto end = scope.find(' ', pos);
    std::string s = scope.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    if (!s.empty() && s != "openid" && s != "profile" && s != "offline_access") scopes.push_back(s);
    pos = end == std::string::npos ? scope.size() : end + 1;
  }
  if (scopes.size() != 1 || !scopes[0].ends_with(kDefaultSuffix) || scopes[0].size() == kDefaultSuffix.size())
    return fail(400, "invalid_scope", 1002012,
                "The provided value for scope " + scope +
                    " is not valid. Client credential flows must have a scope value with /.default suffixed to the "
                    "resource identifier (application ID URI).");
  std::string resource = scopes[0].substr(0, scopes[0].size() - kDefaultSuffix.size());
  if (!tenant->knows_resource(resource))
    return fail(400, "invalid_resource", 500011,
                "The resource principal named " + resource + " was not found in the tenant named " + tenant->id +
                    ". This can happen if the application has not been installed by the administrator of the "
                    "tenant or consented to by any user in the tenant. You might have sent your authentication "
                    "request to the wrong tenant.");

  jwt::Jws jws;
  try {
    jws = jwt::parse(assertion);
  } catch (const jwt::Error&) {
    return fail(400, "invalid_request", 50027, "JWT token is invalid or malformed.");
  }
  auto iss = jwt::string_claim(jws.claims, "iss");
  auto sub = jwt::string_claim(jws.claims, "sub");
  auto exp = jwt::int_claim(jws.claims, "exp");
  auto aud = audiences(jws.claims);
  if (!iss || !sub || !exp || aud.empty())
    return fail(400, "invalid_request", 50027, "JWT token is invalid or malformed.");
  subject = *sub;
  if (!jwt::parse_alg(jws.alg))
    return fail(400, "invalid_request", 5002730, "Invalid JWT token. Unsupported key for the signing algorithm.");

  // Entra fetches keys only for an issuer some credential of the identity trusts.
  std::vector<const FederatedCredential*> by_issuer;
  for (const auto& fc : identity->federated_credentials)
    if (fc.issuer == *iss && fc.effective_from <= now) by_issuer.push_back(&fc);
  if (by_issuer.empty())
    return fail(401, "invalid_client", 700211,
                "No matching federated identity record found for presented assertion issuer '" + *iss +
                    "'. Please note that the matching is done using a case-sensitive comparison. Please check your "
                    "federated identity credential Subject, Audience and Issuer against the presented assertion.");

  JwksLookup lookup = jwks_.lookup(*iss, jws.kid);
  if (!lookup.error.empty())
    return fail(401, "invalid_client", 50166,
                "Request to External OIDC endpoint failed. Issuer: '" + *iss + "'. Reason: " + lookup.error + ".");
  if (lookup.keys.empty())
    return fail(401, "invalid_client", 700027,
                "Client assertion contains an invalid signature. [Reason - The key was not found., Key ID used by "
                "client: '" + jws.kid + "', Issuer: '" + *iss + "']");
  bool verified = false;
  for (const auto& k : lookup.keys) verified = verified || jwt::verify(jws, k);
  if (!verified)
    return fail(401, "invalid_client", 700027,
                "Client assertion contains an invalid signature. [Reason - The signature is invalid., Key ID used "
                "by client: '" + jws.kid + "', Issuer: '" + *iss + "']");

  auto nbf = jwt::int_claim(jws.claims, "nbf");
  auto iat = jwt::int_claim(jws.claims, "iat");
  std::int64_t valid_from = nbf ? *nbf : (iat ? *iat : 0);
  if (now > *exp + options_.clock_skew || (nbf && *nbf > now + options_.clock_skew) ||
      (iat && *iat > now + options_.clock_skew))
    return fail(401, "invalid_client", 700024,
                "Client assertion is not within its valid time range. Current time: " + instant(now) +
                    ", assertion valid from " + instant(valid_from) + ", expiry time of assertion " + instant(*exp) +
                    ". Review the documentation at https://learn.microsoft.com/entra/identity-platform/"
                    "certificate-credentials .");

  std::vector<const FederatedCredential*> by_subject;
  for (const auto* fc : by_issuer)
    if (fc->subject == *sub) by_subject.push_back(fc);
  if (by_subject.empty())
    return fail(401, "invalid_client", 700213,
                "No matching federated identity record found for presented assertion subject '" + *sub +
                    "'. Please check your federated identity credential Subject, Audience and Issuer against the "
                    "presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation");
  bool audience_ok = false;
  for (const auto* fc : by_subject)
    for (const auto& want : fc->audiences)
      for (const auto& got : aud) audience_ok = audience_ok || want == got;
  if (!audience_ok)
    return fail(401, "invalid_client", 700212,
                "No matching federated identity record found for presented assertion audience '" + join(aud) +
                    "'. Please check your federated identity credential Subject, Audience and Issuer against the "
                    "presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation");

  std::string access_token = issue_access_token(*tenant, *identity, resource, now);
  json::object o;
  o["token_type"] = "Bearer";
  o["expires_in"] = options_.token_lifetime;
  o["ext_expires_in"] = options_.token_lifetime;
  if (options_.refresh_in > 0) o["refresh_in"] = options_.refresh_in;
  o["access_token"] = access_token;
  EntraAnswer a;
  a.status = 200;
  a.body = json::serialize(o);
  a.client_id = client_id;
  a.subject = subject;
  a.token_fingerprint = jwt::fingerprint(access_token);
  return a;
}

std::string EntraService::issue_access_token(const Tenant& tenant, const Identity& identity,
                                             const std::string& resource, std::int64_t now) {
  std::int64_t exp = now + options_.token_lifetime;
  json::object c;
  c["aud"] = resource;
  c["iss"] = options_.base_url + tenant.id + "/v2.0";
  c["iat"] = now;
  c["nbf"] = now;
  c["exp"] = exp;
  c["appid"] = identity.client_id;
  c["appidacr"] = "2";
  c["azp"] = identity.client_id;
  c["azpacr"] = "2";
  c["idtyp"] = "app";
  c["oid"] = identity.object_id;
  c["sub"] = identity.object_id;
  c["tid"] = tenant.id;
  c["uti"] = azwi::base64url_encode(jwt::random_bytes(16));
  c["ver"] = "2.0";
  return jwt::sign(keys_.signing_key(jwt::Alg::RS256, exp, now), c);
}

EntraAnswer EntraService::openid_configuration(std::string_view tenant_name, bool v2) {
  auto directory = store_.snapshot();
  const Tenant* tenant = directory->find_tenant(tenant_name);
  if (!tenant)
    return entra_error(400, "invalid_tenant", 90002,
                       "Tenant '" + std::string(tenant_name) +
                           "' not found. Check to make sure you have the correct tenant ID and are signing into the "
                           "correct cloud.",
                       options_.base_url, clock_.now(), "");
  std::string root = options_.base_url + std::string(tenant_name) + "/";
  std::string ver = v2 ? "v2.0/" : "";
  json::object o;
  o["token_endpoint"] = root + "oauth2/" + ver + "token";
  o["token_endpoint_auth_methods_supported"] = json::array{"client_secret_post", "private_key_jwt", "client_secret_basic"};
  o["jwks_uri"] = root + "discovery/" + ver + "keys";
  o["response_modes_supported"] = json::array{"query", "fragment", "form_post"};
  o["subject_types_supported"] = json::array{"pairwise"};
  o["id_token_signing_alg_values_supported"] = json::array{"RS256"};
  o["response_types_supported"] = json::array{"code", "id_token", "code id_token", "id_token token"};
  o["scopes_supported"] = json::array{"openid", "profile", "email", "offline_access"};
  o["issuer"] = options_.base_url + tenant->id + (v2 ? "/v2.0" : "/");
  o["request_uri_parameter_supported"] = false;
  o["authorization_endpoint"] = root + "oauth2/" + ver + "authorize";
  o["device_authorization_endpoint"] = root + "oauth2/" + ver + "devicecode";
  o["end_session_endpoint"] = root + "oauth2/" + ver + "logout";
  o["http_logout_supported"] = true;
  o["frontchannel_logout_supported"] = true;
  o["claims_supported"] = json::array{"sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid", "azp", "ver"};
  o["tenant_region_scope"] = "EU";
  o["cloud_instance_name"] = authority_host(options_.base_url);
  o["cloud_graph_host_name"] = "graph.windows.net";
  o["msgraph_host"] = "graph.microsoft.com";
  EntraAnswer a;
  a.body = json::serialize(o);
  return a;
}

std::string EntraService::jwks() {
  std::int64_t now = unix_seconds(clock_.now());
  return jwt::render_jwks(keys_.published(now, options_.clock_skew));
}

EntraAnswer EntraService::instance_discovery(const Form& query) {
  auto it = query.find("authorization_endpoint");
  std::string tenant = "common";
  if (it != query.end()) {
    // https://host/{tenant}/oauth2/v2.0/authorize
    std::string_view ep = it->second;
    if (auto p = ep.find("://"); p != std::string_view::npos) ep.remove_prefix(p + 3);
    if (auto slash = ep.find('/'); slash != std::string_view::npos) {
      ep.remove_prefix(slash + 1);
      tenant = std::string(ep.substr(0, ep.find('/')));
    }
  }
  std::string host = authority_host(options_.base_url);
  json::object meta;
  meta["preferred_network"] = host;
  meta["preferred_cache"] = host;
  meta["aliases"] = json::array{json::string(host)};
  json::object o;
  o["tenant_discovery_endpoint"] = options_.base_url + tenant + "/v2.0/.well-known/openid-configuration";
  o["api-version"] = "1.1";
  o["metadata"] = json::array{meta};
  EntraAnswer a;
  a.body = json::serialize(o);
  return a;
}

}  // namespace azwi::emulator
