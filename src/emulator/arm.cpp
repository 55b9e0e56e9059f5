#include "emulator/arm.hpp"

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <algorithm>
#include <cctype>
#include <vector>

#include "common/text.hpp"
#include "emulator/form.hpp"
#include "jwt/jws.hpp"

namespace azwi::emulator {
namespace json = boost::json;

namespace {

constexpr std::string_view kProvider = "Microsoft.ManagedIdentity";

Reply arm_error(unsigned status, std::string_view code, const std::string& message) {
  json::object o{{"error", json::object{{"code", code}, {"message", message}}}};
  return json_reply(status, json::serialize(o));
}


std::vector<std::string> segments(std::string_view path) {
  std::vector<std::string> out;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    auto slash = path.find('/');
    out.emplace_back(path.substr(0, slash));
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash);
  }
  return out;
}

std::string identity_id(const Tenant& t, const Identity& i) {
  return "/subscriptions/" + t.subscription_id + "/resourcegroups/" + i.resource_group + "/providers/" +
         std::string(kProvider) + "/userAssignedIdentities/" + i.name;
}

json::object identity_json(const Tenant& t, const Identity& i) {
  return json::object{{"id", identity_id(t, i)},
                      {"name", i.name},
                      {"type", std::string(kProvider) + "/userAssignedIdentities"},
                      {"location", "local"},
                      {"tags", json::object{}},
                      {"properties", json::object{{"tenantId", t.id},
                                                  {"principalId", i.object_id},
                                                  {"clientId", i.client_id},
                                                  {"isolationScope", "None"}}}};
}

json::object credential_json(const Tenant& t, const Identity& i, const FederatedCredential& fc) {
  json::array audiences;
  for (const auto& a : fc.audiences) audiences.push_back(json::string(a));
  return json::object{{"id", identity_id(t, i) + "/federatedIdentityCredentials/" + fc.name},
                      {"name", fc.name},
                      {"type", std::string(kProvider) + "/userAssignedIdentities/federatedIdentityCredentials"},
                      {"properties", json::object{{"issuer", fc.issuer},
                                                  {"subject", fc.subject},
                                                  {"audiences", std::move(audiences)}}}};
}

// Credential names: 3 to 120 characters, alphanumeric, dash or underscore, starting with a letter or digit.
bool valid_credential_name(std::string_view n) {
  if (n.size() < 3 || n.size() > 120 || !std::isalnum(static_cast<unsigned char>(n.front()))) return false;
  return std::all_of(n.begin(), n.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'; });
}

}  // namespace

ArmService::ArmService(DirectoryStore& store, KeyRing& entra_keys, Clock& clock, ArmOptions options)
    : store_(store), keys_(entra_keys), clock_(clock), options_(options) {}

std::optional<Reply> ArmService::authenticate(std::string_view authorization, std::string* tenant) const {
  constexpr std::string_view bearer = "Bearer ";
  if (authorization.size() <= bearer.size() || !ascii::iequals(authorization.substr(0, bearer.size()), bearer))
    return arm_error(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.");
  std::string token(authorization.substr(bearer.size()));
  jwt::Jws jws;
  try {
    jws = jwt::parse(token);
  } catch (const jwt::Error&) {
    return arm_error(401, "InvalidAuthenticationToken", "The access token is invalid.");
  }
  std::int64_t now = unix_seconds(clock_.now());
  bool verified = false;
  for (const auto& k : keys_.published(now, options_.clock_skew)) verified = verified || jwt::verify(jws, k);
  if (!verified)
    return arm_error(401, "InvalidAuthenticationToken",
                     "The access token is invalid: its signature does not verify with this Entra ID's keys.");
  auto aud = jwt::string_claim(jws.claims, "aud").value_or("");
  if (aud != "https://management.azure.com/" && aud != "https://management.azure.com" &&
      aud != "https://management.core.windows.net/")
    return arm_error(401, "InvalidAuthenticationToken",
                     "The access token has an invalid audience '" + aud + "': ask for https://management.azure.com/.");
  auto exp = jwt::int_claim(jws.claims, "exp").value_or(0);
  if (exp + options_.clock_skew < now)
    return arm_error(401, "ExpiredAuthenticationToken", "The access token expiry UTC time is earlier than current UTC time.");
  *tenant = jwt::string_claim(jws.claims, "tid").value_or("");
  return std::nullopt;
}

std::optional<Reply> ArmService::handle(std::string_view method, std::string_view path, std::string_view query,
                                        std::string_view authorization, std::string_view body) {
  auto segs = segments(path);
  if (segs.empty() || !ascii::iequals(segs[0], "subscriptions")) return std::nullopt;
  auto form = parse_form(query).value_or(Form{});
  if (form.find("api-version") == form.end())
    return arm_error(400, "MissingApiVersionParameter",
                     "The api-version query parameter (?api-version=) is required for all requests.");
  std::string caller_tenant;
  if (auto denied = authenticate(authorization, &caller_tenant)) return denied;

  // subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities[/{n}
  //   [/federatedIdentityCredentials[/{fic}]]]
  if (segs.size() < 7 || !ascii::iequals(segs[2], "resourceGroups") || !ascii::iequals(segs[4], "providers") ||
      !ascii::iequals(segs[5], kProvider) || !ascii::iequals(segs[6], "userAssignedIdentities") || segs.size() > 10 ||
      (segs.size() >= 9 && !ascii::iequals(segs[8], "federatedIdentityCredentials")))
    return arm_error(404, "InvalidResourceType", "The resource type could not be found: " + std::string(path));
  const std::string &sub = segs[1], &rg = segs[3];
  auto snapshot = store_.snapshot();
  const Tenant* tenant = nullptr;
  for (const auto& t : snapshot->tenants)
    if (ascii::iequals(t.subscription_id, sub)) tenant = &t;
  if (!tenant) return arm_error(404, "SubscriptionNotFound", "The subscription '" + sub + "' could not be found.");
  if (tenant->id != caller_tenant)
    return arm_error(401, "InvalidAuthenticationTokenTenant",
                     "The access token is from the wrong issuer: the subscription '" + sub + "' belongs to tenant '" +
                         tenant->id + "'.");
  auto find_identity = [&](const Tenant& t, std::string_view name) -> const Identity* {
    for (const auto& i : t.identities)
      if (ascii::iequals(i.resource_group, rg) && ascii::iequals(i.name, name)) return &i;
    return nullptr;
  };
  auto not_found_identity = [&](std::string_view name) {
    return arm_error(404, "ResourceNotFound",
                     "The Resource '" + std::string(kProvider) + "/userAssignedIdentities/" + std::string(name) +
                         "' under resource group '" + rg + "' was not found.");
  };

  if (segs.size() == 7) {  // the resource group's identities
    if (method != "GET") return arm_error(405, "MethodNotAllowed", "Only GET lists identities.");
    json::array value;
    for (const auto& i : tenant->identities)
      if (ascii::iequals(i.resource_group, rg)) value.push_back(identity_json(*tenant, i));
    return json_reply(200, json::serialize(json::object{{"value", std::move(value)}}));
  }
  const std::string& name = segs[7];
  const Identity* identity = find_identity(*tenant, name);
  if (!identity) return not_found_identity(name);
  if (segs.size() == 8) {
    if (method != "GET") return arm_error(405, "MethodNotAllowed", "This emulator does not create identities.");
    return json_reply(200, json::serialize(identity_json(*tenant, *identity)));
  }
  if (segs.size() == 9) {
    if (method != "GET") return arm_error(405, "MethodNotAllowed", "Only GET lists federated identity credentials.");
    json::array value;
    for (const auto& fc : identity->federated_credentials) value.push_back(credential_json(*tenant, *identity, fc));
    return json_reply(200, json::serialize(json::object{{"value", std::move(value)}}));
  }

  const std::string& fic = segs[9];
  auto find_credential = [&](const Identity& i) -> const FederatedCredential* {
    for (const auto& fc : i.federated_credentials)
      if (ascii::iequals(fc.name, fic)) return &fc;
    return nullptr;
  };
  auto fic_not_found = [&] {
    return arm_error(404, "NotFound", "Federated identity credential '" + fic + "' was not found.");
  };
  if (method == "GET") {
    const FederatedCredential* fc = find_credential(*identity);
    if (!fc) return fic_not_found();
    return json_reply(200, json::serialize(credential_json(*tenant, *identity, *fc)));
  }
  if (method == "DELETE") {
    bool removed = store_.update([&](Directory& d) {
      for (auto& t : d.tenants)
        if (t.id == tenant->id)
          for (auto& i : t.identities)
            if (i.client_id == identity->client_id) {
              auto before = i.federated_credentials.size();
              std::erase_if(i.federated_credentials, [&](const FederatedCredential& c) { return ascii::iequals(c.name, fic); });
              return before != i.federated_credentials.size();
            }
      return false;
    });
    return Reply{removed ? 200u : 204u, "", "application/json; charset=utf-8", {}};
  }
  if (method != "PUT") return arm_error(405, "MethodNotAllowed", "GET, PUT or DELETE.");
  if (!valid_credential_name(fic))
    return arm_error(400, "BadRequest",
                     "Federated identity credential name '" + fic + "' is invalid: 3 to 120 characters, letters, "
                     "digits, '-' and '_', starting with a letter or digit.");
  json::error_code ec;
  auto doc = json::parse(body, ec);
  const json::object* props = !ec && doc.is_object() && doc.get_object().if_contains("properties") &&
                                      doc.get_object().at("properties").is_object()
                                  ? &doc.get_object().at("properties").get_object()
                                  : nullptr;
  if (!props) return arm_error(400, "BadRequest", "The request body must be a JSON object with \"properties\".");
  FederatedCredential fc;
  fc.name = fic;
  auto str = [&](const char* k) {
    auto* v = props->if_contains(k);
    return v && v->is_string() ? std::string(v->get_string()) : std::string();
  };
  fc.issuer = str("issuer");
  fc.subject = str("subject");
  if (auto* a = props->if_contains("audiences"); a && a->is_array())
    for (const auto& v : a->get_array())
      if (v.is_string()) fc.audiences.emplace_back(v.get_string());
  if (fc.issuer.empty() || !fc.issuer.starts_with("https://"))
    return arm_error(400, "BadRequest", "The issuer must be an https URL.");
  if (fc.subject.empty()) return arm_error(400, "BadRequest", "The subject must not be empty.");
  if (fc.audiences.size() != 1) return arm_error(400, "BadRequest", "Exactly one audience is supported.");
  fc.effective_from = unix_seconds(clock_.now()) + options_.propagation_seconds;
  // One credential per issuer and subject on an identity, as the real service enforces.
  std::string conflict;
  bool created = store_.update([&](Directory& d) {
    for (auto& t : d.tenants)
      if (t.id == tenant->id)
        for (auto& i : t.identities)
          if (i.client_id == identity->client_id) {
            for (const auto& other : i.federated_credentials)
              if (!ascii::iequals(other.name, fic) && other.issuer == fc.issuer && other.subject == fc.subject)
                conflict = other.name;
            if (!conflict.empty()) return false;
            for (auto& existing : i.federated_credentials)
              if (ascii::iequals(existing.name, fic)) {
                existing = fc;
                return false;
              }
            i.federated_credentials.push_back(fc);
            return true;
          }
    return false;
  });
  if (!conflict.empty())
    return arm_error(400, "BadRequest",
                     "Federated identity credential '" + conflict + "' already has this issuer and subject.");
  return json_reply(created ? 201 : 200, json::serialize(credential_json(*tenant, *identity, fc)));
}

}  // namespace azwi::emulator
