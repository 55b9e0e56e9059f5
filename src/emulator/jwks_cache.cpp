#include "emulator/jwks_cache.hpp"

#include <boost/json/parse.hpp>

namespace azwi::emulator {

JwksCache::JwksCache(http::ClientOptions client_options, http::EgressProxySettings proxy, Clock& clock,
                     std::chrono::seconds ttl, std::chrono::milliseconds refetch_interval)
    : client_(std::move(client_options), std::move(proxy)), clock_(clock), ttl_(ttl),
      refetch_interval_(refetch_interval) {}

std::uint64_t JwksCache::fetch_count() const {
  std::lock_guard lock(mutex_);
  return fetches_;
}

std::shared_ptr<const jwt::KeySet> JwksCache::fetch(const std::string& issuer, std::string& error) {
  {
    std::lock_guard lock(mutex_);
    ++fetches_;
  }
  if (!issuer.starts_with("https://")) {
    error = "issuer '" + issuer + "' is not an https URL";
    return nullptr;
  }
  auto get = [&](const std::string& url, std::string& body) -> bool {
    http::ClientRequest req;
    req.url = url;
    req.timeout = std::chrono::milliseconds(5000);
    req.connect_timeout = std::chrono::milliseconds(3000);
    auto res = client_.perform(req);
    if (res.error) {
      error = "GET " + url + " failed: " + res.error->message;
      return false;
    }
    if (res.response.status != 200) {
      error = "GET " + url + " answered HTTP " + std::to_string(res.response.status);
      return false;
    }
    body = std::move(res.response.body);
    return true;
  };
  std::string base = issuer;
  while (base.ends_with('/')) base.pop_back();
  std::string discovery_url = base + "/.well-known/openid-configuration";
  std::string body;
  if (!get(discovery_url, body)) return nullptr;
  boost::system::error_code ec;
  auto doc = boost::json::parse(body, ec);
  if (ec || !doc.is_object() || !doc.as_object().contains("jwks_uri") || !doc.at("jwks_uri").is_string()) {
    error = discovery_url + " has no jwks_uri";
    return nullptr;
  }
  if (auto iss = doc.as_object().find("issuer"); iss == doc.as_object().end() || !iss->value().is_string() ||
                                                  iss->value().as_string() != issuer) {
    error = discovery_url + " names a different issuer than '" + issuer + "'";
    return nullptr;
  }
  std::string jwks_url(doc.at("jwks_uri").as_string());
  if (!get(jwks_url, body)) return nullptr;
  try {
    return std::make_shared<const jwt::KeySet>(jwt::parse_jwks(body));
  } catch (const jwt::Error& e) {
    error = jwks_url + ": " + e.what();
    return nullptr;
  }
}

JwksLookup JwksCache::lookup(const std::string& issuer, const std::string& kid) {
  auto pick = [&](const jwt::KeySet& set) {
    if (kid.empty()) return set.keys;
    std::vector<jwt::Key> out;
    for (const auto* k : set.find(kid)) out.push_back(*k);
    return out;
  };
  std::shared_ptr<std::mutex> fetch_mutex;
  {
    std::lock_guard lock(mutex_);
    auto& e = entries_[issuer];
    auto now = clock_.now();
    if (e.keys && now - e.fetched_at < ttl_) {
      auto keys = pick(*e.keys);
      if (!keys.empty()) return {std::move(keys), "", false};
      auto last = e.unknown_kid_fetches.find(kid);
      if (last != e.unknown_kid_fetches.end() && now - last->second < refetch_interval_) return {{}, "", false};
      if (e.unknown_kid_fetches.size() > 256) e.unknown_kid_fetches.clear();
      e.unknown_kid_fetches[kid] = now;
    }
    fetch_mutex = e.fetch_mutex;
  }
  std::lock_guard fetching(*fetch_mutex);
  {
    // Another thread may have refreshed the entry while this one waited.
    std::lock_guard lock(mutex_);
    auto& e = entries_[issuer];
    if (e.keys && clock_.now() - e.fetched_at < refetch_interval_) {
      auto keys = pick(*e.keys);
      if (!keys.empty()) return {std::move(keys), "", false};
    }
  }
  std::string error;
  auto keys = fetch(issuer, error);
  if (!keys) return {{}, error, true};
  std::lock_guard lock(mutex_);
  auto& e = entries_[issuer];
  e.keys = keys;
  e.fetched_at = clock_.now();
  return {pick(*keys), "", true};
}

}  // namespace azwi::emulator
