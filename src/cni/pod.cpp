#include "cni/pod.hpp"

#include <charconv>

namespace azwi::cni {
namespace json = boost::json;

std::variant<PodRedirect, std::string> redirect_for_pod(const json::value& pod) {
  const json::object* object = pod.if_object();
  const json::value* metadata = object ? object->if_contains("metadata") : nullptr;
  if (!metadata || !metadata->is_object()) return std::string("the API server's answer is not a pod (no metadata)");
  PodRedirect out;
  const json::value* annotations = metadata->get_object().if_contains("annotations");
  if (!annotations || !annotations->is_object()) return out;
  auto text = [&](std::string_view key) -> std::string_view {
    const json::value* v = annotations->get_object().if_contains(key);
    return v && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
  };
  out.mode = std::string(text(kModeAnnotation));
  if (out.mode != kCniMode) return out;
  out.wanted = true;
  if (std::string_view port = text(kProxyPortAnnotation); !port.empty()) {
    int value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value < 1 || value > 65535)
      return "the pod's annotation " + std::string(kProxyPortAnnotation) + "=\"" + std::string(port) +
             "\" is not a TCP port 1..65535";
    out.config.proxy_port = value;
  }
  return out;
}

}  // namespace azwi::cni
