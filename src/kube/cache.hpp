#pragma once
// In-memory copies of cluster state kept current by a background thread, so that admissions make no API calls:
// every ServiceAccount (list, then watch from the list's resourceVersion; reconnect with backoff; list again on
// 410 Gone), and the API server's version (polled).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "common/metrics.hpp"
#include "kube/client.hpp"
#include "kube/service_account.hpp"

namespace azwi::kube {

struct CacheOptions {
  std::chrono::milliseconds min_backoff{500};
  std::chrono::milliseconds max_backoff{30'000};
  int watch_timeout_seconds = 300;
  int page_size = 500;
};

class ServiceAccountCache final : public ServiceAccountSource {
 public:
  ServiceAccountCache(ApiClient& client, metrics::Registry* registry, CacheOptions options = {});
  ~ServiceAccountCache() override;
  void start();
  void stop();

  bool synced() const { return synced_.load(); }  // true once a first list has completed
  std::string last_error() const;
  std::size_t size() const;

  ServiceAccountPtr cached(std::string_view ns, std::string_view name) const override;
  // A direct GET; a found account is remembered unless the watch or a list changed the cache while it was asked.
  FetchResult fetch(std::string_view ns, std::string_view name) override;

 private:
  void run();
  bool relist();
  void apply(const WatchEvent& event);
  bool wait(std::chrono::milliseconds d);  // false when stopping
  void set_error(std::string e);
  static std::string key(std::string_view ns, std::string_view name);

  ApiClient& client_;
  CacheOptions options_;
  metrics::Gauge* size_gauge_ = nullptr;
  metrics::Registry* registry_;
  mutable std::shared_mutex map_mutex_;
  std::unordered_map<std::string, ServiceAccountPtr> accounts_;
  std::uint64_t changes_ = 0;  // events and lists applied to accounts_ (under map_mutex_), for fetch()
  std::string resource_version_;  // only the watch thread touches it
  std::atomic<bool> synced_{false};
  std::atomic<bool> stop_{false};
  std::mutex wait_mutex_;
  std::condition_variable wake_;
  mutable std::mutex error_mutex_;
  std::string error_;
  std::thread thread_;
};

// The API server's version, read at start and then every `refresh`; retried every `retry` until the first answer.
class VersionTracker {
 public:
  VersionTracker(ApiClient& client, std::chrono::milliseconds refresh = std::chrono::minutes(10),
                 std::chrono::milliseconds retry = std::chrono::seconds(2));
  ~VersionTracker();
  void start();
  void stop();
  std::optional<ServerVersion> current() const;
  std::string last_error() const;

 private:
  void run();
  ApiClient& client_;
  std::chrono::milliseconds refresh_, retry_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::optional<ServerVersion> version_;
  std::string error_;
  std::thread thread_;
};

}  // namespace azwi::kube
