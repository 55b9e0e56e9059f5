#pragma once
// The proxy's configuration: upstream-compatible flags plus the identity environment the webhook injects.
#include <optional>
#include <string>

#include "common/flags.hpp"
#include "common/logging_flags.hpp"

namespace azwi::proxy {

struct Config {
  // flags
  int port = 8000;
  bool probe = false;
  log::LoggingFlags logging;
  std::string metrics_addr;
  std::string imds_endpoint = "http://169.254.169.254";
  int entra_timeout_seconds = 20;
  // environment
  std::string tenant_id;
  std::string client_id;
  std::string token_file;
  std::string authority_host;
  std::string identity_header;  // IDENTITY_HEADER: turns on the App Service endpoint; a secret, never logged
  // The AKS custom token endpoint (upstream v1.6.0; the webhook injects these): with token_proxy set, the exchange
  // goes to it instead of authority_host, over TLS checked as the Azure SDKs check it.
  std::string token_proxy;  // AZURE_KUBERNETES_TOKEN_PROXY, normalised to end with '/'
  std::string sni_name;     // AZURE_KUBERNETES_SNI_NAME: the TLS server name instead of the URL's host
  std::string ca_file;      // AZURE_KUBERNETES_CA_FILE: trust anchors, re-read when the file changes
  std::string ca_data;      // AZURE_KUBERNETES_CA_DATA: the same, fixed
};

// Registers every flag (and documents the environment) for --help.
void register_flags(FlagSet& flags, Config& config);
// Reads the environment into config; returns an error message when the proxy cannot serve tokens.
std::optional<std::string> load_environment(Config& config);
// The AZURE_KUBERNETES_* part of it; an error message when they cannot be used as the SDKs would use them.
std::optional<std::string> load_token_proxy(Config& config);

std::string user_agent();

}  // namespace azwi::proxy
