#pragma once
// The part of a Kubernetes ServiceAccount the webhook reads. Only annotations under azure.workload.identity/ are
// kept, so that a cache of every service account in a large cluster stays small.
#include <boost/json/fwd.hpp>
#include <map>
#include <memory>
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

using ServiceAccountPtr = std::shared_ptr<const ServiceAccount>;

// The answer of one direct lookup: the account, or not found, or why the API server could not tell.
struct FetchResult {
  ServiceAccountPtr sa;
  bool not_found = false;
  std::string error;  // set when neither sa nor not_found
};

// Where the webhook gets service accounts: memory first, the API server on a miss.
class ServiceAccountSource {
 public:
  virtual ~ServiceAccountSource() = default;
  // Never blocks: nullptr when the account is not in memory.
  virtual ServiceAccountPtr cached(std::string_view ns, std::string_view name) const = 0;
  // One call to the API server; blocks up to the client's timeout. Call off the I/O threads.
  virtual FetchResult fetch(std::string_view ns, std::string_view name) = 0;
};

// Reads a ServiceAccount object as the API server sends it; nullopt when metadata.name is missing.
std::optional<ServiceAccount> service_account_from_json(const boost::json::value& object);

}  // namespace azwi::kube
