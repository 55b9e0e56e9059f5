#include "kube/service_account.hpp"

#include <boost/json/value.hpp>

namespace azwi::kube {
namespace json = boost::json;

std::optional<ServiceAccount> service_account_from_json(const json::value& v) {
  if (!v.is_object()) return std::nullopt;
  const json::value* meta = v.get_object().if_contains("metadata");
  if (!meta || !meta->is_object()) return std::nullopt;
  const json::object& m = meta->get_object();
  auto str = [&](std::string_view key) -> std::string {
    const json::value* s = m.if_contains(key);
    return s && s->is_string() ? std::string(s->get_string()) : std::string();
  };
  ServiceAccount sa;
  sa.name = str("name");
  if (sa.name.empty()) return std::nullopt;
  sa.ns = str("namespace");
  sa.resource_version = str("resourceVersion");
  if (const json::value* ann = m.if_contains("annotations"); ann && ann->is_object()) {
    for (const auto& kv : ann->get_object()) {
      std::string_view key = kv.key();
      if (key.starts_with(kAnnotationPrefix) && kv.value().is_string())
        sa.annotations.emplace(std::string(key), std::string(kv.value().get_string()));
    }
  }
  return sa;
}

}  // namespace azwi::kube
