#pragma once
// A federated identity credential as ARM holds it (Microsoft.ManagedIdentity/userAssignedIdentities/
// federatedIdentityCredentials) and the match Entra ID makes against a token's claims.
#include <string>
#include <vector>

namespace azwi::cli {

struct FederatedCredential {
  std::string name;
  std::string issuer;
  std::string subject;
  std::vector<std::string> audiences;
};

enum class CredentialMatch { match, no_issuer, no_subject, no_audience };

// Entra's order (case-sensitive): a credential with the issuer, then one of those with the subject, then one of
// those listing one of the audiences.
CredentialMatch match_credentials(const std::vector<FederatedCredential>& credentials, const std::string& issuer,
                                  const std::string& subject, const std::vector<std::string>& audiences);

}  // namespace azwi::cli
