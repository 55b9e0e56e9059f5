#pragma once
// The webhook's configuration: environment variables (as the upstream webhook reads them) plus flags.
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "identity/authority.hpp"

#include "webhook/proxy_mode.hpp"

namespace azwi::webhook {

inline constexpr std::string_view kDefaultAudience = "api://AzureADTokenExchange";
// Key of the proxy CA ConfigMap read when PROXY_CA_CONFIGMAP names none.
inline constexpr std::string_view kDefaultProxyCAKey = "ca.crt";

// Where the projected token lives in a pod. v1_6 (the default, as upstream v1.6.0): volume
// azure-workload-identity-reserved-<hash> at /var/run/secrets/azure/wi, token at token/azure-identity-token.
// v1_5: volume azure-identity-token at /var/run/secrets/azure/tokens, for tooling that hard-codes the old path.
enum class TokenLayout { v1_6, v1_5 };
// "v1.6" or "v1.5"; nullopt for anything else.
std::optional<TokenLayout> parse_token_layout(std::string_view value);

// Resource requests and limits of an injected container, as Kubernetes quantities; an empty value is not set.
struct Resources {
  std::string cpu_request, memory_request, cpu_limit, memory_limit;
  bool operator==(const Resources&) const = default;
};
// Sized from the measured footprint (README: the proxy's RSS is 7.5 MiB idle, 7.9 MiB peak; proxy-init runs
// iptables-restore once), with room for a burst of token requests.
inline const Resources kDefaultProxyResources{"10m", "16Mi", "200m", "64Mi"};
inline const Resources kDefaultProxyInitResources{"10m", "16Mi", "200m", "64Mi"};
// "requests.cpu=10m,limits.memory=64Mi,...", the syntax of --proxy-resources, --proxy-init-resources and of the
// pod annotations: each named key is set over `base` (an empty value unsets it), the others keep base's value.
// Keys: requests.cpu, requests.memory, limits.cpu, limits.memory. Throws std::invalid_argument saying what is wrong.
Resources parse_resources(std::string_view value, Resources base);

// Upstream v1.6.0's custom token endpoint (AKS identity bindings): pods annotated
// azure.workload.identity/use-<suffix>: "true" get a token for `audience` and the AZURE_KUBERNETES_* environment.
struct CustomTokenEndpoint {
  std::string annotation;        // azure.workload.identity/use-<--custom-token-endpoint-annotation-suffix>
  std::string audience;          // --custom-token-endpoint-audience
  std::string token_proxy;       // AZURE_KUBERNETES_TOKEN_PROXY
  std::string sni_name;          // AZURE_KUBERNETES_SNI_NAME
  std::string ca_data;           // AZURE_KUBERNETES_CA_DATA
  std::string ca_configmap;      // AZURE_KUBERNETES_CA_CONFIGMAP_NAME: key ca.crt, projected as ca-cert/ca.crt
  std::string ctb_signer;        // AZURE_KUBERNETES_CA_CTB_SIGNER_NAME: a ClusterTrustBundle source instead
  std::string ctb_label_selector;  // AZURE_KUBERNETES_CA_CTB_LABEL_SELECTOR: JSON of a LabelSelector (compact)
};

// 32 random bytes, base64url: the secret an identity-endpoint pod's SDKs send to its sidecar.
std::string new_identity_secret();

struct Config {
  std::string tenant_id;       // AZURE_TENANT_ID: the default for service accounts without a tenant-id annotation
  std::string authority_host;  // AZURE_AUTHORITY_HOST, else from AZURE_ENVIRONMENT
  std::string proxy_image;     // PROXY_IMAGE
  std::string proxy_init_image;  // PROXY_INIT_IMAGE
  std::string audience{kDefaultAudience};  // --audience
  std::string proxy_log_level = "info";    // passed to the injected proxy sidecar
  // PROXY_CA_CONFIGMAP=NAME[:KEY]: a ConfigMap in the pod's namespace whose key holds the CA bundle the injected
  // proxy sidecar trusts for its calls to Entra ID. Empty name: none (the image's own bundle).
  std::string proxy_ca_configmap;
  std::string proxy_ca_key{kDefaultProxyCAKey};
  TokenLayout token_layout = TokenLayout::v1_6;  // --token-layout
  Resources proxy_resources = kDefaultProxyResources;            // --proxy-resources
  Resources proxy_init_resources = kDefaultProxyInitResources;  // --proxy-init-resources
  std::optional<CustomTokenEndpoint> custom_token_endpoint;
  // --proxy-sidecar-mode: the mode of pods that ask for the proxy without the proxy-sidecar-mode annotation.
  ProxyMode proxy_mode = ProxyMode::init_container;
  // The IDENTITY_HEADER secret of a pod in identity-endpoint mode, drawn once per pod (tests give a fixed one).
  std::function<std::string()> identity_secret = new_identity_secret;
};

// "AzurePublicCloud" (also when empty), "AzureChinaCloud", "AzureUSGovernmentCloud", matched case-insensitively;
// nullopt for any other cloud.
std::optional<std::string> authority_host_for(std::string_view cloud);

std::string default_proxy_image();       // ghcr.io/azwi/azwi-proxy:v<AZWI_VERSION>
std::string default_proxy_init_image();  // ghcr.io/azwi/azwi-proxy-init:v<AZWI_VERSION>

// An authority host as the Azure SDKs accept it (identity/authority.hpp).
using identity::normalize_authority_host;

// "NAME[:KEY]" as PROXY_CA_CONFIGMAP takes it: NAME a ConfigMap name (DNS subdomain), KEY a ConfigMap key (default
// ca.crt). Throws std::invalid_argument saying what is wrong with it.
std::pair<std::string, std::string> parse_proxy_ca_configmap(std::string_view value);

// Reads AZURE_TENANT_ID, AZURE_ENVIRONMENT, AZURE_AUTHORITY_HOST (which wins over the cloud's authority),
// PROXY_IMAGE, PROXY_INIT_IMAGE and PROXY_CA_CONFIGMAP. Throws std::runtime_error with a message naming the
// variable when the tenant is missing, the cloud is unknown or a value is not usable.
Config config_from_env();

// The custom token endpoint from the two flags and the six AZURE_KUBERNETES_* variables of the webhook's
// environment. Both flags empty: nullopt (off). Throws std::runtime_error naming the flag or variable when only one
// flag is given, the audience is the default one, the annotation key is not a valid key, more than one CA source is
// set, a label selector has no signer or is not a JSON object.
std::optional<CustomTokenEndpoint> custom_token_endpoint_from(std::string_view annotation_suffix,
                                                             std::string_view audience);

}  // namespace azwi::webhook
