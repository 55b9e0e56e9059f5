#include "identity/token_cache.hpp"

namespace azwi::identity {
namespace {
std::string cache_id(const TokenKey& k) {
  std::string id;
  id.reserve(k.tenant.size() + k.client_id.size() + k.scope.size() + 2);
  id += k.tenant;
  id += '\n';
  id += k.client_id;
  id += '\n';
  id += k.scope;
  return id;
}
}  // namespace

TokenCache::TokenCache(Clock& clock, TokenSource& source, CacheOptions options)
    : clock_(clock), source_(source), options_(options) {}

void TokenCache::get(const TokenKey& key, Callback cb) {
  std::string id = cache_id(key);
  auto now = clock_.now();
  std::shared_ptr<const AccessToken> token;
  Outcome outcome = Outcome::hit;
  bool fetch = false;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end()) {
      lru_.push_front(id);
      it = entries_.emplace(id, Entry{key, nullptr, false, {}, {}, lru_.begin()}).first;
    } else {
      lru_.splice(lru_.begin(), lru_, it->second.lru_pos);
    }
    Entry& e = it->second;
    if (e.token && now < e.token->usable_until) {
      token = e.token;
      if (now >= e.token->refresh_at) {
        outcome = Outcome::refreshing;
        if (!e.in_flight && now >= e.no_refresh_before) {
          e.in_flight = true;
          fetch = true;
        }
      }
    } else {
      outcome = Outcome::miss;
      e.waiters.push_back(std::move(cb));
      if (!e.in_flight) {
        e.in_flight = true;
        fetch = true;
      }
    }
    evict_locked();  // after the decision: the entry just used is the most recent and has a fetch or a token
  }
  if (token) cb(Lookup{std::move(token), std::nullopt, outcome});
  if (fetch) start_fetch(id, key);
}

void TokenCache::start_fetch(const std::string& id, const TokenKey& key) {
  source_.fetch(key, [this, id](FetchResult r) { on_fetched(id, std::move(r)); });
}

void TokenCache::on_fetched(const std::string& id, FetchResult result) {
  std::vector<Callback> waiters;
  std::shared_ptr<const AccessToken> token;
  std::optional<TokenError> error;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return;  // evicted meanwhile: in-flight entries are never evicted, so not reached
    Entry& e = it->second;
    e.in_flight = false;
    waiters.swap(e.waiters);
    if (auto* t = std::get_if<AccessToken>(&result)) {
      token = std::make_shared<const AccessToken>(std::move(*t));
      e.token = token;
      e.no_refresh_before = {};
    } else {
      error = std::get<TokenError>(std::move(result));
      auto pause = std::max(options_.failed_refresh_pause, error->retry_after.value_or(std::chrono::seconds(0)));
      e.no_refresh_before = clock_.now() + pause;
    }
  }
  for (auto& w : waiters) w(Lookup{token, error, Outcome::miss});
}

void TokenCache::evict_locked() {
  auto pos = lru_.end();
  // Never the front entry: it is the one the caller is using right now.
  while (entries_.size() > options_.capacity && pos != std::next(lru_.begin())) {
    --pos;
    auto it = entries_.find(*pos);
    if (it->second.in_flight) continue;
    entries_.erase(it);
    pos = lru_.erase(pos);
  }
}

std::size_t TokenCache::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

std::string_view outcome_name(TokenCache::Outcome o) {
  switch (o) {
    case TokenCache::Outcome::hit: return "hit";
    case TokenCache::Outcome::refreshing: return "refreshing";
    case TokenCache::Outcome::miss: return "miss";
  }
  return "unknown";
}

}  // namespace azwi::identity
