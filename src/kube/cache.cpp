#include "kube/cache.hpp"

#include <random>

#include "common/log.hpp"

namespace azwi::kube {
namespace {
const log::Logger& logger() {
  static const log::Logger l("kube");
  return l;
}
}  // namespace

ServiceAccountCache::ServiceAccountCache(ApiClient& client, metrics::Registry* registry, CacheOptions options)
    : client_(client), options_(options), registry_(registry) {
  if (registry_)
    size_gauge_ = &registry_->gauge("azwi_webhook_serviceaccount_cache_size", "Service accounts held in memory");
}

ServiceAccountCache::~ServiceAccountCache() { stop(); }

void ServiceAccountCache::start() {
  stop_ = false;
  thread_ = std::thread([this] { run(); });
}

void ServiceAccountCache::stop() {
  {
    std::lock_guard lock(wait_mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::string ServiceAccountCache::key(std::string_view ns, std::string_view name) {
  std::string k;
  k.reserve(ns.size() + name.size() + 1);
  k.append(ns);
  k += '/';
  k.append(name);
  return k;
}

std::string ServiceAccountCache::last_error() const {
  std::lock_guard lock(error_mutex_);
  return error_;
}

void ServiceAccountCache::set_error(std::string e) {
  std::lock_guard lock(error_mutex_);
  error_ = std::move(e);
}

std::size_t ServiceAccountCache::size() const {
  std::shared_lock lock(map_mutex_);
  return accounts_.size();
}

ServiceAccountPtr ServiceAccountCache::cached(std::string_view ns, std::string_view name) const {
  std::string k = key(ns, name);
  std::shared_lock lock(map_mutex_);
  auto it = accounts_.find(k);
  return it == accounts_.end() ? nullptr : it->second;
}

FetchResult ServiceAccountCache::fetch(std::string_view ns, std::string_view name) {
  std::uint64_t before;
  {
    std::shared_lock lock(map_mutex_);
    before = changes_;
  }
  FetchResult r = client_.get_service_account(ns, name);
  if (r.sa) {
    std::unique_lock lock(map_mutex_);
    // Once the watch or a list changed the map, the answer may be older than what they brought (the account
    // deleted meanwhile would come back); the watch delivers the account itself.
    if (changes_ == before) accounts_.emplace(key(ns, name), r.sa);
  }
  return r;
}

bool ServiceAccountCache::wait(std::chrono::milliseconds d) {
  std::unique_lock lock(wait_mutex_);
  wake_.wait_for(lock, d, [this] { return stop_.load(); });
  return !stop_;
}

bool ServiceAccountCache::relist() {
  ListResult list = client_.list_service_accounts(options_.page_size);
  if (!list.error.empty()) {
    set_error(list.error);
    logger().warn("cannot list service accounts", {{"error", list.error}});
    return false;
  }
  std::unordered_map<std::string, ServiceAccountPtr> fresh;
  fresh.reserve(list.items.size());
  for (auto& sa : list.items) {
    std::string k = key(sa.ns, sa.name);
    fresh.emplace(std::move(k), std::make_shared<const ServiceAccount>(std::move(sa)));
  }
  std::size_t count = fresh.size();
  {
    std::unique_lock lock(map_mutex_);
    accounts_.swap(fresh);
    ++changes_;
  }
  resource_version_ = list.resource_version;
  if (size_gauge_) size_gauge_->set(static_cast<double>(count));
  set_error("");
  bool first = !synced_.exchange(true);
  logger().info(first ? "service account cache synced" : "service accounts listed again",
                {{"count", count}, {"resource_version", resource_version_}});
  return true;
}

void ServiceAccountCache::apply(const WatchEvent& e) {
  if (!e.object.resource_version.empty()) resource_version_ = e.object.resource_version;
  if (e.type == WatchEvent::Type::bookmark) return;
  std::string k = key(e.object.ns, e.object.name);
  std::size_t count;
  {
    std::unique_lock lock(map_mutex_);
    ++changes_;
    if (e.type == WatchEvent::Type::deleted) {
      accounts_.erase(k);
    } else {
      accounts_[k] = std::make_shared<const ServiceAccount>(e.object);
    }
    count = accounts_.size();
  }
  if (size_gauge_) size_gauge_->set(static_cast<double>(count));
  logger().debug("service account event",
                 {{"type", e.type == WatchEvent::Type::deleted ? "deleted" : "updated"}, {"namespace", e.object.ns},
                  {"name", e.object.name}, {"resource_version", e.object.resource_version}});
}

void ServiceAccountCache::run() {
  std::mt19937 rng(std::random_device{}());
  auto backoff = options_.min_backoff;
  auto next_backoff = [&] {
    // Jittered exponential backoff: a fleet of webhooks does not reconnect in step after an outage.
    std::uniform_int_distribution<long> jitter(0, backoff.count() / 2);
    auto d = backoff + std::chrono::milliseconds(jitter(rng));
    backoff = std::min(backoff * 2, options_.max_backoff);
    return d;
  };
  auto restarts = [&](const char* reason) {
    if (registry_)
      registry_->counter("azwi_webhook_serviceaccount_watch_restarts_total",
                         "Service account watches that ended and were started again, by reason", {{"reason", reason}})
          .inc();
  };
  bool need_list = true;
  while (!stop_) {
    if (need_list) {
      if (!relist()) {
        if (!wait(next_backoff())) return;
        continue;
      }
      need_list = false;
      backoff = options_.min_backoff;
    }
    std::string error;
    bool delivered = false;
    auto began = std::chrono::steady_clock::now();
    WatchEnd end = client_.watch_service_accounts(
        resource_version_, options_.watch_timeout_seconds,
        [this, &delivered](const WatchEvent& e) {
          delivered = true;
          apply(e);
        },
        stop_, &error);
    switch (end) {
      case WatchEnd::stopped: return;
      case WatchEnd::closed:
        backoff = options_.min_backoff;
        restarts("closed");
        break;
      case WatchEnd::gone:
        logger().info("service account watch expired; listing again", {{"reason", error}});
        restarts("gone");
        need_list = true;
        break;
      case WatchEnd::failed:
        set_error(error);
        logger().warn("service account watch failed; retrying", {{"error", error}});
        restarts("failed");
        // A watch that worked (it delivered events, or stayed open as long as the longest backoff) and then broke
        // off, as a cut connection or a restarting API server ends one, is retried soon: the backoff grown by
        // earlier failures would keep every update made meanwhile from the cache for up to 45 s.
        if (delivered || std::chrono::steady_clock::now() - began >= options_.max_backoff)
          backoff = options_.min_backoff;
        if (!wait(next_backoff())) return;
        break;
    }
  }
}

VersionTracker::VersionTracker(ApiClient& client, std::chrono::milliseconds refresh, std::chrono::milliseconds retry)
    : client_(client), refresh_(refresh), retry_(retry) {}

VersionTracker::~VersionTracker() { stop(); }

void VersionTracker::start() {
  thread_ = std::thread([this] { run(); });
}

void VersionTracker::stop() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::optional<ServerVersion> VersionTracker::current() const {
  std::lock_guard lock(mutex_);
  return version_;
}

std::string VersionTracker::last_error() const {
  std::lock_guard lock(mutex_);
  return error_;
}

void VersionTracker::run() {
  std::unique_lock lock(mutex_);
  while (!stop_) {
    lock.unlock();
    std::string error;
    auto v = client_.version(&error);
    lock.lock();
    if (v) {
      bool changed = !version_ || version_->git_version != v->git_version;
      version_ = v;
      error_.clear();
      if (changed)
        logger().info("API server version", {{"version", v->git_version}, {"major", v->major}, {"minor", v->minor}});
    } else {
      error_ = error;
      logger().warn("cannot read the API server version", {{"error", error}});
    }
    wake_.wait_for(lock, version_ ? refresh_ : retry_, [this] { return stop_; });
  }
}

}  // namespace azwi::kube
