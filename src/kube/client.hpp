#pragma once
// A minimal Kubernetes API client: the server version, ServiceAccounts by get, list and watch, and authenticated
// JSON requests. On azwi::http::AsioClient (Asio and OpenSSL, no libcurl), one connection per request: GETs are
// rare (cache misses) and a watch is one long streamed request whose newline-delimited JSON events are handed over
// as they arrive. HTTPS_PROXY/NO_PROXY apply, as in client-go. Thread-safe.
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "kube/cluster_config.hpp"
#include "kube/service_account.hpp"

namespace azwi::http {
class AsioClient;
}

namespace azwi::kube {

struct ServerVersion {
  int major = 0;
  int minor = 0;
  std::string git_version;
};
// "HTTP 403: <the Status body's message>" (or the start of a body that is not a Status).
std::string api_status_message(long status, const std::string& body);

// From a /version body: gitVersion "v1.32.1-eks-..." first, else the major/minor fields ("1", "32+").
std::optional<ServerVersion> parse_server_version(std::string_view body);

struct ListResult {
  std::vector<ServiceAccount> items;
  std::string resource_version;
  std::string error;  // set: the list failed
};

// One page of a ServiceAccount list answer (items that are not service accounts are left out), through
// ServiceAccountListStream; exposed for the fuzz target. error set: the body is not one JSON object, or is refused.
struct ListPage {
  std::vector<ServiceAccount> items;
  std::string resource_version, continue_token, error;
};
ListPage parse_service_account_list(std::string_view body);

struct WatchEvent {
  enum class Type { added, modified, deleted, bookmark } type;
  ServiceAccount object;
};

// Splits a watch's body into newline-delimited JSON events and hands them over; exposed for the fuzz target.
struct WatchState {
  const std::function<void(const WatchEvent&)>* on_event = nullptr;
  std::string pending;  // bytes after the last complete line
  bool gone = false;
  std::string error;

  // Both: false to stop reading (gone or an error is set).
  bool data(std::string_view bytes);
  bool line(std::string_view text);
};

enum class WatchEnd {
  closed,   // the server ended the stream (timeoutSeconds reached): watch again from the last resourceVersion
  gone,     // 410: the resourceVersion is too old; list again
  failed,   // connection or HTTP error: back off, then watch again
  stopped,  // the stop flag was raised
};

class ApiClient {
 public:
  explicit ApiClient(ClusterConfig config);
  ~ApiClient();
  ApiClient(const ApiClient&) = delete;
  ApiClient& operator=(const ApiClient&) = delete;

  const ClusterConfig& config() const { return config_; }

  // Errors are returned as text (nullopt version with `error` set).
  std::optional<ServerVersion> version(std::string* error);
  FetchResult get_service_account(std::string_view ns, std::string_view name);
  // All service accounts in the cluster, in pages of `page_size`, each handed to `on_item` as soon as it is parsed
  // (items stays empty); a page is never held whole. On an error, the accounts handed over so far are real ones.
  // `resource_version` "0": any version the API server holds (its watch cache, which answers with every account in
  // one page whatever `limit` says: how client-go's informers list first); empty: the latest (a read from etcd).
  ListResult list_service_accounts(int page_size, const std::function<void(ServiceAccount&&)>& on_item,
                                   std::string_view resource_version = {});
  // The same, collected into items.
  ListResult list_service_accounts(int page_size = 500);
  // Blocks until the stream ends; calls on_event for each event in order. `error` receives the reason of
  // failed/gone ends. A raised `stop` ends the watch within a fraction of a second, whatever the server sends.
  WatchEnd watch_service_accounts(const std::string& resource_version, int timeout_seconds,
                                  const std::function<void(const WatchEvent&)>& on_event, const std::atomic<bool>& stop,
                                  std::string* error);

  // The current bearer token (re-read from token_file as it rotates); empty when none.
  std::string bearer_token();

  struct Response {
    long status = 0;
    std::string body;
    std::string error;  // set when no HTTP answer arrived
  };
  // One JSON request to the API server (path relative to the server, e.g. /api/v1/...), authenticated.
  Response request(const std::string& method, const std::string& path, const std::string& body = {},
                   const std::string& content_type = "application/json");

 private:
  Response get(const std::string& path) { return request("GET", path); }

  ClusterConfig config_;
  std::unique_ptr<http::AsioClient> http_;
  std::mutex mutex_;  // guards the token
  std::string token_;
  std::chrono::steady_clock::time_point token_read_{};
};

}  // namespace azwi::kube
