#pragma once
// Fetches the signing keys of an assertion's issuer the way Entra does: HTTPS GET {iss}/.well-known/openid-configuration,
// then its jwks_uri. Results are cached per issuer for a TTL; an unknown kid triggers one refetch (at most once per
// refetch interval per issuer and kid), so a rotated issuer key is picked up at once while a stream of tokens with
// a bogus kid cannot make the cache hammer the issuer. The requests go through the project's Asio client, over the
// egress proxy the environment names (HTTPS_PROXY, NO_PROXY).
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "http/asio_client.hpp"
#include "jwt/jwks.hpp"

namespace azwi::emulator {

struct JwksLookup {
  std::vector<jwt::Key> keys;  // candidates for the kid (all keys when the token has no kid)
  std::string error;           // set when the issuer's keys could not be fetched
  bool fetched = false;        // this lookup went to the network
};

class JwksCache {
 public:
  JwksCache(http::ClientOptions client_options, http::EgressProxySettings proxy, Clock& clock, std::chrono::seconds ttl,
            std::chrono::milliseconds refetch_interval = std::chrono::milliseconds(1000));
  JwksLookup lookup(const std::string& issuer, const std::string& kid);
  std::uint64_t fetch_count() const;

 private:
  struct Entry {
    std::shared_ptr<const jwt::KeySet> keys;
    Clock::time_point fetched_at{};
    std::shared_ptr<std::mutex> fetch_mutex = std::make_shared<std::mutex>();  // one fetch per issuer at a time
    std::map<std::string, Clock::time_point> unknown_kid_fetches;               // kid -> last refetch it caused
  };
  // Returns the key set or an error text.
  std::shared_ptr<const jwt::KeySet> fetch(const std::string& issuer, std::string& error);

  http::AsioClient client_;
  Clock& clock_;
  std::chrono::seconds ttl_;
  std::chrono::milliseconds refetch_interval_;
  mutable std::mutex mutex_;
  std::map<std::string, Entry> entries_;
  std::uint64_t fetches_ = 0;
};

}  // namespace azwi::emulator
