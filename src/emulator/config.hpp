#pragma once
// The directory the Entra role serves: tenants, their identities (client IDs) and each identity's federated
// identity credentials — the fields of `az identity federated-credential create` (name, issuer, subject,
// audiences). Read from a JSON config file and/or built from command-line flags for one identity.
#include <filesystem>
#include <memory>
#include <mutex>
#include <cstdint>
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
  // Unix time from which Entra uses the credential (one created through ARM waits out the propagation delay); 0: always.
  std::int64_t effective_from = 0;
};

struct Identity {
  std::string name;
  std::string client_id;
  std::string object_id;  // principal id; derived from the client id when not configured
  std::vector<FederatedCredential> federated_credentials;
  std::string resource_group;  // where ARM lists it; default "azwi"
};

struct Tenant {
  std::string id;
  std::vector<std::string> domains;    // other names the tenant answers to (e.g. contoso.onmicrosoft.com)
  std::vector<std::string> resources;  // resources tokens may be issued for; empty: any
  std::vector<Identity> identities;
  std::string subscription_id;  // the identities' ARM subscription; derived from the tenant id when not configured

  const Identity* find_identity(std::string_view client_id) const;
  bool knows_resource(std::string_view resource) const;
};

struct Directory {
  std::vector<Tenant> tenants;
  const Tenant* find_tenant(std::string_view id_or_domain) const;
};

// The directory as Entra and ARM share it: readers take a snapshot (never blocked by a writer for longer than a
// pointer swap), writers (ARM's PUT and DELETE) replace it whole.
class DirectoryStore {
 public:
  explicit DirectoryStore(Directory dir) : current_(std::make_shared<const Directory>(std::move(dir))) {}
  std::shared_ptr<const Directory> snapshot() const {
    std::lock_guard lock(mutex_);
    return current_;
  }
  // Applies `change` to a copy and publishes it; returns what `change` returned.
  template <typename F>
  auto update(F&& change) {
    std::lock_guard write(write_mutex_);
    auto next = std::make_shared<Directory>(*snapshot());
    auto result = change(*next);
    std::lock_guard lock(mutex_);
    current_ = std::move(next);
    return result;
  }

 private:
  mutable std::mutex mutex_;
  std::mutex write_mutex_;  // one writer at a time, so no change is lost
  std::shared_ptr<const Directory> current_;
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
std::string derived_subscription_id(std::string_view tenant_id);
inline constexpr std::string_view kDefaultResourceGroup = "azwi";

}  // namespace azwi::emulator
