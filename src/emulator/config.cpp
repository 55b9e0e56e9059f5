#include "emulator/config.hpp"

#include <boost/json/parse.hpp>
#include <cstdio>
#include <stdexcept>

#include "emulator/files.hpp"
#include "jwt/digest.hpp"

namespace azwi::emulator {
namespace json = boost::json;

namespace {

struct Reader {
  const std::string& origin;
  [[noreturn]] void fail(const std::string& where, const std::string& what) const {
    throw std::runtime_error(origin + ": " + where + ": " + what);
  }
  std::string string(const json::object& o, const char* key, const std::string& where, bool required) const {
    auto it = o.find(key);
    if (it == o.end() || it->value().is_null()) {
      if (required) fail(where, std::string("\"") + key + "\" is required");
      return {};
    }
    if (!it->value().is_string()) fail(where, std::string("\"") + key + "\" must be a string");
    return std::string(it->value().as_string());
  }
  std::vector<std::string> strings(const json::object& o, const char* key, const std::string& where) const {
    std::vector<std::string> out;
    auto it = o.find(key);
    if (it == o.end() || it->value().is_null()) return out;
    if (!it->value().is_array()) fail(where, std::string("\"") + key + "\" must be an array of strings");
    for (const auto& v : it->value().as_array()) {
      if (!v.is_string()) fail(where, std::string("\"") + key + "\" must be an array of strings");
      out.emplace_back(v.as_string());
    }
    return out;
  }
  const json::array& objects(const json::object& o, const char* key, const std::string& where) const {
    static const json::array empty;
    auto it = o.find(key);
    if (it == o.end()) return empty;
    if (!it->value().is_array()) fail(where, std::string("\"") + key + "\" must be an array");
    for (const auto& v : it->value().as_array())
      if (!v.is_object()) fail(where, std::string("\"") + key + "\" must be an array of objects");
    return it->value().as_array();
  }
};

}  // namespace

const Identity* Tenant::find_identity(std::string_view client_id) const {
  for (const auto& i : identities)
    if (i.client_id == client_id) return &i;
  return nullptr;
}

bool Tenant::knows_resource(std::string_view resource) const {
  if (resources.empty()) return true;
  for (const auto& r : resources)
    if (r == resource) return true;
  return false;
}

const Tenant* Directory::find_tenant(std::string_view id) const {
  for (const auto& t : tenants) {
    if (t.id == id) return &t;
    for (const auto& d : t.domains)
      if (d == id) return &t;
  }
  return nullptr;
}

Directory parse_directory(std::string_view text, const std::string& origin) {
  Reader r{origin};
  json::error_code ec;
  json::value doc = json::parse(text, ec);
  if (ec) throw std::runtime_error(origin + ": not valid JSON: " + ec.message());
  if (!doc.is_object()) r.fail("top level", "must be an object with a \"tenants\" array");
  Directory dir;
  for (const auto& tv : r.objects(doc.as_object(), "tenants", "top level")) {
    const auto& to = tv.as_object();
    std::string where = "tenants[" + std::to_string(dir.tenants.size()) + "]";
    Tenant t;
    t.id = r.string(to, "id", where, true);
    t.subscription_id = r.string(to, "subscription_id", where, false);
    t.domains = r.strings(to, "domains", where);
    t.resources = r.strings(to, "resources", where);
    for (const auto& iv : r.objects(to, "identities", where)) {
      const auto& io = iv.as_object();
      std::string iwhere = where + ".identities[" + std::to_string(t.identities.size()) + "]";
      Identity id;
      id.name = r.string(io, "name", iwhere, false);
      id.client_id = r.string(io, "client_id", iwhere, true);
      id.object_id = r.string(io, "object_id", iwhere, false);
      id.resource_group = r.string(io, "resource_group", iwhere, false);
      for (const auto& fv : r.objects(io, "federated_credentials", iwhere)) {
        const auto& fo = fv.as_object();
        std::string fwhere = iwhere + ".federated_credentials[" + std::to_string(id.federated_credentials.size()) + "]";
        FederatedCredential fc;
        fc.name = r.string(fo, "name", fwhere, false);
        fc.issuer = r.string(fo, "issuer", fwhere, false);
        fc.subject = r.string(fo, "subject", fwhere, true);
        fc.audiences = r.strings(fo, "audiences", fwhere);
        if (fc.audiences.empty()) fc.audiences.push_back("api://AzureADTokenExchange");
        id.federated_credentials.push_back(std::move(fc));
      }
      if (t.find_identity(id.client_id)) r.fail(iwhere, "client_id " + id.client_id + " appears twice in the tenant");
      t.identities.push_back(std::move(id));
    }
    if (dir.find_tenant(t.id)) r.fail(where, "tenant " + t.id + " appears twice");
    dir.tenants.push_back(std::move(t));
  }
  return dir;
}

Directory load_directory(const std::filesystem::path& file) {
  auto text = read_file(file);
  if (!text) throw std::runtime_error("cannot read config file " + file.string());
  return parse_directory(*text, file.string());
}

void add_identity(Directory& dir, const std::string& tenant_id, const std::string& client_id,
                  FederatedCredential credential) {
  Tenant* tenant = nullptr;
  for (auto& t : dir.tenants)
    if (t.id == tenant_id) tenant = &t;
  if (!tenant) {
    dir.tenants.emplace_back().id = tenant_id;
    tenant = &dir.tenants.back();
  }
  for (auto& i : tenant->identities)
    if (i.client_id == client_id) {
      i.federated_credentials.push_back(std::move(credential));
      return;
    }
  Identity& identity = tenant->identities.emplace_back();
  identity.client_id = client_id;
  identity.federated_credentials.push_back(std::move(credential));
}

namespace {
std::string derived_uuid(std::string_view seed) {
  std::string h = jwt::sha256_hex(seed);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-4" + h.substr(13, 3) + "-a" + h.substr(17, 3) + "-" + h.substr(20, 12);
}
}  // namespace

std::string derived_object_id(std::string_view client_id) { return derived_uuid("object-id:" + std::string(client_id)); }
std::string derived_subscription_id(std::string_view tenant_id) {
  return derived_uuid("subscription-id:" + std::string(tenant_id));
}

void resolve_defaults(Directory& dir, const std::string& self_issuer) {
  for (auto& t : dir.tenants) {
    if (t.subscription_id.empty()) t.subscription_id = derived_subscription_id(t.id);
    for (auto& i : t.identities) {
      if (i.object_id.empty()) i.object_id = derived_object_id(i.client_id);
      if (i.resource_group.empty()) i.resource_group = kDefaultResourceGroup;
      if (i.name.empty()) i.name = i.client_id;
      for (auto& fc : i.federated_credentials)
        if (fc.issuer.empty()) fc.issuer = self_issuer;
    }
  }
}

}  // namespace azwi::emulator
