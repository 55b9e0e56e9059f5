#include "webhook/config.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "common/env.hpp"

namespace azwi::webhook {

std::optional<std::string> authority_host_for(std::string_view cloud) {
  std::string lower(cloud);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (lower.empty() || lower == "azurepubliccloud") return "https://login.microsoftonline.com/";
  if (lower == "azurechinacloud") return "https://login.chinacloudapi.cn/";
  if (lower == "azureusgovernmentcloud") return "https://login.microsoftonline.us/";
  return std::nullopt;
}

std::string default_proxy_image() { return std::string("ghcr.io/azwi/azwi-proxy:v") + AZWI_VERSION; }
std::string default_proxy_init_image() { return std::string("ghcr.io/azwi/azwi-proxy-init:v") + AZWI_VERSION; }

Config config_from_env() {
  Config c;
  auto tenant = env("AZURE_TENANT_ID");
  if (!tenant)
    throw std::runtime_error(
        "AZURE_TENANT_ID is not set: set it to the tenant of your identities (the default for service accounts "
        "without an azure.workload.identity/tenant-id annotation)");
  c.tenant_id = *tenant;
  auto cloud = env_or("AZURE_ENVIRONMENT", "");
  auto host = authority_host_for(cloud);
  if (!host)
    throw std::runtime_error("AZURE_ENVIRONMENT=\"" + cloud +
                             "\" is not a known cloud: use AzurePublicCloud, AzureChinaCloud or AzureUSGovernmentCloud");
  c.authority_host = *host;
  c.proxy_image = env_or("PROXY_IMAGE", default_proxy_image());
  c.proxy_init_image = env_or("PROXY_INIT_IMAGE", default_proxy_init_image());
  return c;
}

}  // namespace azwi::webhook
