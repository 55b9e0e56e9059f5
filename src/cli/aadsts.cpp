#include "cli/aadsts.hpp"

#include <array>
#include <cctype>
#include <charconv>

namespace azwi::cli {

namespace {
constexpr std::array kTable{
    AadstsAdvice{70021, "no federated credential matches the token (issuer, subject and audience together)",
                 "compare the identity's federated credentials with the token's iss, sub and aud below"},
    AadstsAdvice{700211, "no federated credential of the identity has the token's issuer",
                 "the credential's issuer must be the cluster's OIDC issuer URL exactly (the trailing slash "
                 "matters): create it with the issuer shown below"},
    AadstsAdvice{700213, "no credential with that issuer has the token's subject",
                 "create a federated credential with subject system:serviceaccount:<namespace>:<service account> "
                 "of this pod (azwi serviceaccount create)"},
    AadstsAdvice{700212, "no credential with that issuer and subject lists the token's audience",
                 "add the token's audience (api://AzureADTokenExchange, or the webhook's --audience) to the "
                 "credential's audiences"},
    AadstsAdvice{700016, "the client ID is not an application or identity of the tenant",
                 "check the service account's azure.workload.identity/client-id annotation and its tenant-id "
                 "annotation (or the webhook's AZURE_TENANT_ID)"},
    AadstsAdvice{90002, "the tenant does not exist",
                 "check the webhook's azureTenantID and the service account's azure.workload.identity/tenant-id "
                 "annotation"},
    AadstsAdvice{50166, "Entra ID could not fetch the issuer's signing keys",
                 "the cluster's OIDC issuer must be enabled and reachable from Entra ID"},
    AadstsAdvice{700027, "the token's signature does not match the issuer's published keys",
                 "after rotating the cluster's signing keys, publish the new JWKS (azwi jwks) and wait for the "
                 "issuer to serve it"},
    AadstsAdvice{700024, "the token is expired or not yet valid",
                 "check the node's clock; the kubelet rotates the token file, so a stale file means the volume is "
                 "not refreshed"},
    AadstsAdvice{7000215, "the application expects a client secret",
                 "the identity has no federated credential: create one (azwi serviceaccount create)"},
    AadstsAdvice{7000218, "no client assertion was sent",
                 "the identity has no federated credential: create one (azwi serviceaccount create)"},
};
}  // namespace

const AadstsAdvice* explain_aadsts(int code) {
  for (const auto& a : kTable)
    if (a.code == code) return &a;
  return nullptr;
}

std::optional<int> find_aadsts_code(std::string_view text) {
  std::optional<int> last;
  for (auto pos = text.find("AADSTS"); pos != std::string_view::npos; pos = text.find("AADSTS", pos + 6)) {
    std::size_t start = pos + 6, end = start;
    while (end < text.size() && end - start < 9 && std::isdigit(static_cast<unsigned char>(text[end]))) ++end;
    int code = 0;
    if (end > start && std::from_chars(text.data() + start, text.data() + end, code).ec == std::errc()) last = code;
  }
  return last;
}

}  // namespace azwi::cli
