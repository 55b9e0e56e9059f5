#pragma once
// The part of a Kubernetes ServiceAccount the webhook reads. Only annotations under azure.workload.identity/ are
// kept, so that a cache of every service account in a large cluster stays small.
#include <boost/json/fwd.hpp>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace azwi::kube {

inline constexpr std::string_view kAnnotationPrefix = "azure.workload.identity/";

struct ServiceAccount {
  std::string ns;
  std::string name;
  std::string resource_version;
  std::map<std::string, std::string, std::less<>> annotations;  // only the azure.workload.identity/ ones

  const std::string* annotation(std::string_view key) const {
    auto it = annotations.find(key);
    return it == annotations.end() ? nullptr : &it->second;
  }
  bool operator==(const ServiceAccount&) const = default;
};

// Reads a ServiceAccount object as the API server sends it; nullopt when metadata.name is missing.
std::optional<ServiceAccount> service_account_from_json(const boost::json::value& object);

}  // namespace azwi::kube
