#pragma once
// proxy-init's settings, read from the environment the webhook gives the init container.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace azwi::netredirect {

// The sidecar the webhook injects: its port and UID (the webhook and the CNI plugin check theirs against these).
inline constexpr int kDefaultProxyPort = 8000;
inline constexpr std::uint32_t kDefaultProxyUid = 1501;

struct Config {
  int proxy_port = kDefaultProxyPort;           // PROXY_PORT: where the azwi-proxy sidecar listens
  std::string metadata_ip = "169.254.169.254";  // METADATA_IP: the IMDS address applications call
  int metadata_port = 80;                      // METADATA_PORT
  std::uint32_t proxy_uid = kDefaultProxyUid;  // PROXY_UID: the sidecar's UID, whose traffic is not redirected
  bool operator==(const Config&) const = default;
};

// Looks up one environment variable; nullopt (or empty) means unset.
using EnvLookup = std::function<std::optional<std::string>(const char* name)>;

// Unset variables take their defaults. An invalid value gives an error that names the variable, the value and the
// accepted range, e.g. `PROXY_PORT="80a" is invalid: expected a TCP port 1..65535`.
std::variant<Config, std::string> config_from_env(const EnvLookup& lookup);

}  // namespace azwi::netredirect
