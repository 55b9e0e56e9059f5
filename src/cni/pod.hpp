#pragma once
// Whether a pod asked for the node to install its redirect, read from the pod object the API server returns.
#include <boost/json/value.hpp>
#include <string>
#include <string_view>
#include <variant>

#include "netredirect/config.hpp"
#include "webhook/mutation.hpp"
#include "webhook/proxy_mode.hpp"

namespace azwi::cni {

// The names the webhook writes: it records the mode it applied on the pod (kProxyModeAnnotation), and the
// sidecar's port (kProxyPortAnnotation, default 8000); the sidecar runs as UID 1501 (netredirect's default).
inline constexpr std::string_view kModeAnnotation = webhook::kProxyModeAnnotation;
inline constexpr std::string_view kCniMode = webhook::proxy_mode_name(webhook::ProxyMode::cni);
inline constexpr std::string_view kProxyPortAnnotation = webhook::kProxyPortAnnotation;
static_assert(netredirect::Config{}.proxy_uid == webhook::kProxyUid && netredirect::Config{}.proxy_port ==
              webhook::kDefaultProxyPort, "the plugin's rules let the sidecar the webhook injects through");

struct PodRedirect {
  bool wanted = false;
  netredirect::Config config;  // the rules to install, when wanted
  std::string mode;            // the annotation's value, empty when absent (for the log)
};

// A pod object without metadata, or a cni-mode pod with a bad port annotation, is an error (text).
std::variant<PodRedirect, std::string> redirect_for_pod(const boost::json::value& pod);

}  // namespace azwi::cni
