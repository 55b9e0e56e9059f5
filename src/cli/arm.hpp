#pragma once
// Azure Resource Manager, as far as the CLI needs it: a user-assigned managed identity and its federated identity
// credentials (api-version 2023-01-31), authenticated as the environment provides: workload identity
// (AZURE_FEDERATED_TOKEN_FILE), a client secret (AZURE_CLIENT_SECRET), or a managed identity through IMDS.
// Writes are retried with backoff while ARM has not caught up with a just-created identity (404, 409, 429, 5xx).
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "cli/federated_credential.hpp"
#include "common/clock.hpp"
#include "identity/entra_exchanger.hpp"
#include "identity/retry.hpp"

namespace azwi {
class FlagSet;
}

namespace azwi::cli {

inline constexpr std::string_view kArmApiVersion = "2023-01-31";

struct ArmFlags {
  std::string subscription_id, resource_group, identity_name;
  std::string arm_endpoint = "https://management.azure.com/";
  std::string arm_resource = "https://management.azure.com/";
  void add_to(FlagSet& flags, bool for_doctor);
  bool identity_named() const { return !identity_name.empty(); }
  // /subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}
  std::string identity_path() const;
  std::string endpoint() const;  // with a trailing slash
  // Empty when the identity is fully named, else what is missing.
  std::string missing() const;
};

// A bearer token for ARM, or the reason there is none.
class ArmCredential {
 public:
  virtual ~ArmCredential() = default;
  virtual std::variant<std::string, std::string> token() = 0;  // index 0: the token; 1: the error
  virtual std::string describe() const = 0;                    // "workload identity (client ID ...)"
};

// Workload identity when AZURE_FEDERATED_TOKEN_FILE, AZURE_CLIENT_ID and AZURE_TENANT_ID are set; else a client
// secret when AZURE_CLIENT_SECRET is; else a managed identity through IMDS (AZURE_POD_IDENTITY_AUTHORITY_HOST
// overrides http://169.254.169.254/, AZURE_CLIENT_ID selects the identity).
std::unique_ptr<ArmCredential> arm_credential_from_env(const ArmFlags& flags);

struct ArmIdentity {
  std::string name, client_id, tenant_id, principal_id;
};

class ArmClient {
 public:
  ArmClient(std::string endpoint, std::unique_ptr<ArmCredential> credential);
  ArmClient(std::string endpoint, std::unique_ptr<ArmCredential> credential, identity::HttpTransport& transport,
            Clock& clock, identity::RetryPolicy retry);
  ~ArmClient();

  struct Listed {
    std::vector<FederatedCredential> credentials;
    std::string error;
  };
  Listed list_federated_credentials(const std::string& identity_path);
  // Empty on success, else the error.
  std::string get_identity(const std::string& identity_path, ArmIdentity* out);
  std::string put_federated_credential(const std::string& identity_path, const FederatedCredential& credential);
  // A credential that is already gone counts as deleted.
  std::string delete_federated_credential(const std::string& identity_path, const std::string& name);

  // How many attempts the last call made (retries for propagation show here and in the log).
  int last_attempts() const { return last_attempts_; }

 private:
  struct Answer {
    long status = 0;
    std::string body;
    std::string error;
  };
  Answer call(const std::string& method, const std::string& path, const std::string& body, bool retry_not_found);

  std::string endpoint_;
  std::unique_ptr<ArmCredential> credential_;
  std::unique_ptr<identity::HttpTransport> own_transport_;
  identity::HttpTransport& transport_;
  std::unique_ptr<SystemClock> own_clock_;
  Clock& clock_;
  identity::RetryPolicy retry_;
  int last_attempts_ = 0;
};

// The message of an ARM error body ({"error":{"code","message"}}), else the start of the body.
std::string arm_error_message(long status, const std::string& body);

}  // namespace azwi::cli
