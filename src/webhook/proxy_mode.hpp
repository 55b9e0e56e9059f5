#pragma once
// How the injected proxy sidecar receives the application's token requests. The names are part of the interface
// (the pod annotation, the --proxy-sidecar-mode flag, the chart value, and the annotation the azwi-cni plugin reads).
#include <array>
#include <optional>
#include <string_view>

namespace azwi::webhook {

enum class ProxyMode {
  init_container,     // azwi-proxy-init (NET_ADMIN, privileged) redirects 169.254.169.254:80 to the sidecar
  identity_endpoint,  // no redirect: IDENTITY_ENDPOINT/IDENTITY_HEADER point the SDKs at the sidecar on loopback
  cni,                // the node's azwi-cni plugin installs the same redirect in the pod's network namespace
};

inline constexpr std::array<std::string_view, 3> kProxyModeNames = {"init-container", "identity-endpoint", "cni"};
// For messages: "init-container, identity-endpoint or cni".
inline constexpr std::string_view kProxyModeChoices = "init-container, identity-endpoint or cni";

constexpr std::string_view proxy_mode_name(ProxyMode mode) { return kProxyModeNames[static_cast<int>(mode)]; }

// Exact names only: the annotation is read by other programs too (the CNI plugin), which must agree on its value.
constexpr std::optional<ProxyMode> parse_proxy_mode(std::string_view name) {
  for (std::size_t i = 0; i < kProxyModeNames.size(); ++i)
    if (kProxyModeNames[i] == name) return static_cast<ProxyMode>(i);
  return std::nullopt;
}

}  // namespace azwi::webhook
