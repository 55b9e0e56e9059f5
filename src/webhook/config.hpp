#pragma once
// The webhook's configuration: environment variables (as the upstream webhook reads them) plus flags.
#include <optional>
#include <string>
#include <string_view>

namespace azwi::webhook {

inline constexpr std::string_view kDefaultAudience = "api://AzureADTokenExchange";

struct Config {
  std::string tenant_id;       // AZURE_TENANT_ID: the default for service accounts without a tenant-id annotation
  std::string authority_host;  // from AZURE_ENVIRONMENT
  std::string proxy_image;     // PROXY_IMAGE
  std::string proxy_init_image;  // PROXY_INIT_IMAGE
  std::string audience{kDefaultAudience};  // --audience
  std::string proxy_log_level = "info";    // passed to the injected proxy sidecar
};

// "AzurePublicCloud" (also when empty), "AzureChinaCloud", "AzureUSGovernmentCloud", matched case-insensitively;
// nullopt for any other cloud.
std::optional<std::string> authority_host_for(std::string_view cloud);

std::string default_proxy_image();       // ghcr.io/azwi/azwi-proxy:v<AZWI_VERSION>
std::string default_proxy_init_image();  // ghcr.io/azwi/azwi-proxy-init:v<AZWI_VERSION>

// Reads AZURE_TENANT_ID, AZURE_ENVIRONMENT, PROXY_IMAGE and PROXY_INIT_IMAGE. Throws std::runtime_error with a
// message naming the variable when the tenant is missing or the cloud is unknown.
Config config_from_env();

}  // namespace azwi::webhook
