#pragma once
// proxy-init's settings, read from the environment the webhook gives the init container.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace azwi::netredirect {

struct Config {
  int proxy_port = 8000;                       // PROXY_PORT: where the azwi-proxy sidecar listens
  std::string metadata_ip = "169.254.169.254";  // METADATA_IP: the IMDS address applications call
  int metadata_port = 80;                      // METADATA_PORT
  std::uint32_t proxy_uid = 1501;              // PROXY_UID: the sidecar's UID, whose traffic is not redirected
  bool operator==(const Config&) const = default;
};

// Looks up one environment variable; nullopt (or empty) means unset.
using EnvLookup = std::function<std::optional<std::string>(const char* name)>;

// Unset variables take their defaults. An invalid value gives an error that names the variable, the value and the
// accepted range, e.g. `PROXY_PORT="80a" is invalid: expected a TCP port 1..65535`.
std::variant<Config, std::string> config_from_env(const EnvLookup& lookup);

}  // namespace azwi::netredirect
