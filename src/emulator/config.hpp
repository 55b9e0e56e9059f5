#pragma once
// The directory the Entra role serves: tenants, their identities (client IDs) and each identity's federated
// identity credentials — the fields of `az identity federated-credential create` (name, issuer, subject,
// audiences). Read from a JSON config file and/or built from command-line flags for one identity.
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace azwi::emulator {

struct FederatedCredential {
  std::string name;
  std::string issuer;  // empty: the emulator's own OIDC issuer (its URL is known only once it listens)
  std::string subject;
  std::vector<std::string> audiences;
};

struct Identity {
  std::string name;
  std::string client_id;
  std::string object_id;  // principal id; derived from the client id when not configured
  std::vector<FederatedCredential> federated_credentials;
};

struct Tenant {
  std::string id;
  std::vector<std::string> domains;    // other names the tenant answers to (e.g. contoso.onmicrosoft.com)
  std::vector<std::string> resources;  // resources tokens may be issued for; empty: any
  std::vector<Identity> identities;

  const Identity* find_identity(std::string_view client_id) const;
  bool knows_resource(std::string_view resource) const;
};

struct Directory {
  std::vector<Tenant> tenants;
  const Tenant* find_tenant(std::string_view id_or_domain) const;
};

// Parses the config file format (see docs/emulator.md). Throws std::runtime_error naming the file and the member.
Directory parse_directory(std::string_view json, const std::string& origin);
Directory load_directory(const std::filesystem::path& file);

// Adds one identity with one federated credential (the flags' single-identity case), creating the tenant if needed.
void add_identity(Directory& dir, const std::string& tenant_id, const std::string& client_id,
                  FederatedCredential credential);

// Fills empty issuers with self_issuer and empty object ids with a stable id derived from the client id.
void resolve_defaults(Directory& dir, const std::string& self_issuer);

std::string derived_object_id(std::string_view client_id);

}  // namespace azwi::emulator
