#pragma once
// Whether a pod asked for the node to install its redirect, read from the pod object the API server returns.
#include <boost/json/value.hpp>
#include <string>
#include <string_view>
#include <variant>

#include "netredirect/config.hpp"

namespace azwi::cni {

// The webhook records the mode it applied to the pod in this annotation (values init-container,
// identity-endpoint, cni); the plugin acts on "cni" only.
inline constexpr std::string_view kModeAnnotation = "azure.workload.identity/proxy-sidecar-mode";
inline constexpr std::string_view kCniMode = "cni";
// The sidecar's port, as the webhook reads it (default 8000); the sidecar runs as UID 1501.
inline constexpr std::string_view kProxyPortAnnotation = "azure.workload.identity/proxy-sidecar-port";

struct PodRedirect {
  bool wanted = false;
  netredirect::Config config;  // the rules to install, when wanted
  std::string mode;            // the annotation's value, empty when absent (for the log)
};

// A pod object without metadata, or a cni-mode pod with a bad port annotation, is an error (text).
std::variant<PodRedirect, std::string> redirect_for_pod(const boost::json::value& pod);

}  // namespace azwi::cni
