#pragma once
// The webhook's configuration: environment variables (as the upstream webhook reads them) plus flags.
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "webhook/proxy_mode.hpp"

namespace azwi::webhook {

inline constexpr std::string_view kDefaultAudience = "api://AzureADTokenExchange";
// Key of the proxy CA ConfigMap read when PROXY_CA_CONFIGMAP names none.
inline constexpr std::string_view kDefaultProxyCAKey = "ca.crt";

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

// An authority host as the Azure SDKs accept it: an absolute https URL (scheme matched case-insensitively and
// written lowercase) with a host, optionally a port and a path, without user info, query or fragment; returned
// ending with '/'. Throws std::invalid_argument saying what is wrong with it.
std::string normalize_authority_host(std::string_view value);

// "NAME[:KEY]" as PROXY_CA_CONFIGMAP takes it: NAME a ConfigMap name (DNS subdomain), KEY a ConfigMap key (default
// ca.crt). Throws std::invalid_argument saying what is wrong with it.
std::pair<std::string, std::string> parse_proxy_ca_configmap(std::string_view value);

// Reads AZURE_TENANT_ID, AZURE_ENVIRONMENT, AZURE_AUTHORITY_HOST (which wins over the cloud's authority),
// PROXY_IMAGE, PROXY_INIT_IMAGE and PROXY_CA_CONFIGMAP. Throws std::runtime_error with a message naming the
// variable when the tenant is missing, the cloud is unknown or a value is not usable.
Config config_from_env();

}  // namespace azwi::webhook
