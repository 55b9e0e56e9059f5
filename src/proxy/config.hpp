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
  bool version = false;
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
};

// Registers every flag (and documents the environment) for --help.
void register_flags(FlagSet& flags, Config& config);
// Reads the environment into config; returns an error message when the proxy cannot serve tokens.
std::optional<std::string> load_environment(Config& config);

std::string user_agent();

}  // namespace azwi::proxy
