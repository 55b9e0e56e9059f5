#pragma once
// The Azure Resource Manager role: the tenants' user-assigned managed identities and their federated identity
// credentials (Microsoft.ManagedIdentity, api-version 2023-01-31 shapes), over the directory the Entra role reads,
// so that a credential created here is what the token endpoint then accepts. Callers present an access token this
// emulator's Entra role issued for ARM (aud https://management.azure.com/), of the identity's tenant.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.hpp"
#include "emulator/config.hpp"
#include "emulator/keyring.hpp"
#include "emulator/reply.hpp"

namespace azwi::emulator {

struct ArmOptions {
  // Seconds before Entra uses a credential created or changed here (the real service's propagation delay).
  std::int64_t propagation_seconds = 0;
  std::int64_t clock_skew = 300;
};

class ArmService {
 public:
  ArmService(DirectoryStore& store, KeyRing& entra_keys, Clock& clock, ArmOptions options);
  // nullopt when the path is not under /subscriptions/.
  std::optional<Reply> handle(std::string_view method, std::string_view path, std::string_view query,
                              std::string_view authorization, std::string_view body);

 private:
  // The caller's tenant, or the error reply.
  std::optional<Reply> authenticate(std::string_view authorization, std::string* tenant) const;

  DirectoryStore& store_;
  KeyRing& keys_;
  Clock& clock_;
  ArmOptions options_;
};

}  // namespace azwi::emulator
