#pragma once
// The token cache between IMDS callers and Entra ID:
// - keyed by (tenant, client ID, scope), bounded, least-recently-used entries evicted first;
// - single-flight: any number of concurrent misses for one key cause exactly one fetch;
// - refresh ahead: a caller that finds a token past its refresh point gets it at once and a background fetch starts;
// - stale on outage: while fetches fail, a token that is still usable keeps being served.
// All time comes from the Clock, so this is tested on a simulated one.
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.hpp"
#include "identity/token.hpp"

namespace azwi::identity {

class TokenSource {
 public:
  virtual ~TokenSource() = default;
  // Obtains a token for key; calls done exactly once, possibly on another thread, possibly before returning.
  virtual void fetch(const TokenKey& key, std::function<void(FetchResult)> done) = 0;
};

struct CacheOptions {
  std::size_t capacity = 1024;
  // After a failed background refresh, the next one waits at least this long (or Entra's Retry-After).
  std::chrono::seconds failed_refresh_pause{15};
};

class TokenCache {
 public:
  enum class Outcome {
    hit,         // a fresh cached token
    refreshing,  // a cached token past its refresh point; a background refresh runs or recently failed
    miss,        // the caller waited for a fetch
  };
  struct Lookup {
    std::shared_ptr<const AccessToken> token;  // null on error
    std::optional<TokenError> error;
    Outcome outcome;
  };
  using Callback = std::function<void(Lookup)>;

  TokenCache(Clock& clock, TokenSource& source, CacheOptions options = {});
  // Calls cb exactly once: at once on a hit, otherwise when the fetch completes (on the source's thread).
  void get(const TokenKey& key, Callback cb);
  std::size_t size() const;

 private:
  struct Entry {
    TokenKey key;
    std::shared_ptr<const AccessToken> token;
    bool in_flight = false;
    std::vector<Callback> waiters;
    Clock::time_point no_refresh_before{};
    std::list<std::string>::iterator lru_pos;
  };
  void start_fetch(const std::string& id, const TokenKey& key);
  void on_fetched(const std::string& id, FetchResult result);
  void evict_locked();

  Clock& clock_;
  TokenSource& source_;
  CacheOptions options_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> lru_;  // front: most recently used
};

std::string_view outcome_name(TokenCache::Outcome);

}  // namespace azwi::identity
