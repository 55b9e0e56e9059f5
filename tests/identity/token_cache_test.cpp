#include <gtest/gtest.h>

#include <thread>

#include "identity/token_cache.hpp"

using namespace azwi;
using namespace azwi::identity;
using namespace std::chrono_literals;

namespace {
// Records fetches; the test decides when and how each completes.
class ScriptedSource : public TokenSource {
 public:
  void fetch(const TokenKey& key, std::function<void(FetchResult)> done) override {
    std::lock_guard lock(mutex);
    pending.push_back({key, std::move(done)});
    ++fetches;
  }
  void complete_next(FetchResult r) {
    std::function<void(FetchResult)> done;
    {
      std::lock_guard lock(mutex);
      ASSERT_FALSE(pending.empty());
      done = std::move(pending.front().second);
      pending.erase(pending.begin());
    }
    done(std::move(r));
  }
  std::mutex mutex;
  std::vector<std::pair<TokenKey, std::function<void(FetchResult)>>> pending;
  int fetches = 0;
};

struct Collected {
  std::vector<TokenCache::Lookup> lookups;
  TokenCache::Callback cb() {
    return [this](TokenCache::Lookup l) { lookups.push_back(std::move(l)); };
  }
};

const TokenKey kKey{"tenant", "client", "https://vault.azure.net/.default"};
}  // namespace

class TokenCacheTest : public ::testing::Test {
 protected:
  AccessToken token(std::string value, std::chrono::seconds lifetime = 3600s,
                    std::optional<std::chrono::seconds> refresh_in = std::nullopt) {
    return make_access_token(std::move(value), clock.now(), lifetime, std::nullopt, refresh_in);
  }
  ManualClock clock;
  ScriptedSource source;
  TokenCache cache{clock, source, CacheOptions{3, 15s}};
};

TEST_F(TokenCacheTest, ConcurrentMissesMakeExactlyOneFetch) {
  Collected c;
  for (int i = 0; i < 50; ++i) cache.get(kKey, c.cb());
  EXPECT_EQ(source.fetches, 1);
  EXPECT_TRUE(c.lookups.empty());
  source.complete_next(token("A"));
  ASSERT_EQ(c.lookups.size(), 50u);
  for (auto& l : c.lookups) {
    ASSERT_TRUE(l.token);
    EXPECT_EQ(l.token->value, "A");
    EXPECT_EQ(l.outcome, TokenCache::Outcome::miss);
  }
}

TEST_F(TokenCacheTest, ConcurrentMissesFromManyThreadsMakeOneFetch) {
  std::atomic<int> answered{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      for (int j = 0; j < 20; ++j) cache.get(kKey, [&](TokenCache::Lookup) { ++answered; });
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(source.fetches, 1);
  source.complete_next(token("A"));
  EXPECT_EQ(answered.load(), 160);
}

TEST_F(TokenCacheTest, HitsAreServedWithoutFetching) {
  Collected c;
  cache.get(kKey, c.cb());
  source.complete_next(token("A"));
  clock.advance(10min);
  cache.get(kKey, c.cb());
  EXPECT_EQ(source.fetches, 1);
  ASSERT_EQ(c.lookups.size(), 2u);
  EXPECT_EQ(c.lookups[1].outcome, TokenCache::Outcome::hit);
  EXPECT_EQ(c.lookups[1].token->value, "A");
}

TEST_F(TokenCacheTest, DifferentScopesClientsAndTenantsAreDifferentEntries) {
  Collected c;
  cache.get(kKey, c.cb());
  cache.get({"tenant", "client", "https://storage.azure.com/.default"}, c.cb());
  cache.get({"tenant", "other", kKey.scope}, c.cb());
  cache.get({"tenant2", "client", kKey.scope}, c.cb());
  EXPECT_EQ(source.fetches, 4);
}

TEST_F(TokenCacheTest, PastTheRefreshPointCallersGetTheCachedTokenAndOneBackgroundRefreshStarts) {
  Collected c;
  cache.get(kKey, c.cb());
  source.complete_next(token("A"));  // 1 h token: refresh 10 min before expiry
  clock.advance(51min);
  cache.get(kKey, c.cb());
  cache.get(kKey, c.cb());
  ASSERT_EQ(c.lookups.size(), 3u);
  EXPECT_EQ(c.lookups[1].outcome, TokenCache::Outcome::refreshing);
  EXPECT_EQ(c.lookups[1].token->value, "A");
  EXPECT_EQ(source.fetches, 2);  // one refresh for both callers
  source.complete_next(token("B"));
  cache.get(kKey, c.cb());
  EXPECT_EQ(c.lookups.back().token->value, "B");
  EXPECT_EQ(c.lookups.back().outcome, TokenCache::Outcome::hit);
}

TEST_F(TokenCacheTest, RefreshInFromEntraDecidesTheRefreshPoint) {
  Collected c;
  cache.get(kKey, c.cb());
  source.complete_next(token("A", 24h, 1h));
  clock.advance(59min);
  cache.get(kKey, c.cb());
  EXPECT_EQ(source.fetches, 1);
  clock.advance(2min);
  cache.get(kKey, c.cb());
  EXPECT_EQ(source.fetches, 2);
}

TEST_F(TokenCacheTest, LongLivedTokensRefreshAtHalfLife) {
  auto t = token("A", 24h);
  EXPECT_EQ(t.refresh_at - t.issued_at, 12h);
  auto s = token("B", 3600s);
  EXPECT_EQ(s.refresh_at - s.issued_at, 50min);
  auto tiny = token("C", 60s);
  EXPECT_EQ(tiny.refresh_at - tiny.issued_at, 30s);
  EXPECT_EQ(tiny.expires_on - tiny.usable_until, 6s);
}

TEST_F(TokenCacheTest, WhileEntraFailsAStillValidTokenKeepsBeingServed) {
  Collected c;
  cache.get(kKey, c.cb());
  source.complete_next(token("A"));
  clock.advance(51min);
  cache.get(kKey, c.cb());  // starts the refresh
  source.complete_next(TokenError{TokenError::Kind::unavailable, "service_unavailable", "down", std::nullopt});
  // Still served, and no new refresh before the pause ends.
  clock.advance(10s);
  cache.get(kKey, c.cb());
  EXPECT_EQ(c.lookups.back().token->value, "A");
  EXPECT_EQ(source.fetches, 2);
  clock.advance(6s);
  cache.get(kKey, c.cb());
  EXPECT_EQ(c.lookups.back().token->value, "A");
  EXPECT_EQ(source.fetches, 3);
  source.complete_next(TokenError{TokenError::Kind::throttled, "throttled", "slow down", 120s});
  clock.advance(60s);  // Retry-After (120 s) beats the 15 s pause
  cache.get(kKey, c.cb());
  EXPECT_EQ(source.fetches, 3);
  EXPECT_EQ(c.lookups.back().token->value, "A");
}

TEST_F(TokenCacheTest, AnExpiredTokenIsNeverServed) {
  Collected c;
  cache.get(kKey, c.cb());
  source.complete_next(token("A"));
  clock.advance(59min + 30s);  // inside the last minute: not usable any more
  cache.get(kKey, c.cb());
  EXPECT_EQ(c.lookups.size(), 1u);
  source.complete_next(TokenError{TokenError::Kind::unavailable, "service_unavailable", "down", std::nullopt});
  ASSERT_EQ(c.lookups.size(), 2u);
  EXPECT_FALSE(c.lookups[1].token);
  ASSERT_TRUE(c.lookups[1].error);
  EXPECT_EQ(c.lookups[1].error->description, "down");
}

TEST_F(TokenCacheTest, ErrorsReachEveryWaiterAndTheNextCallerTriesAgain) {
  Collected c;
  cache.get(kKey, c.cb());
  cache.get(kKey, c.cb());
  source.complete_next(TokenError{TokenError::Kind::rejected, "invalid_client", "AADSTS700213: no match", std::nullopt});
  ASSERT_EQ(c.lookups.size(), 2u);
  EXPECT_EQ(c.lookups[0].error->error, "invalid_client");
  cache.get(kKey, c.cb());
  EXPECT_EQ(source.fetches, 2);  // a waiting caller is never refused because of the pause
}

TEST_F(TokenCacheTest, BoundedLeastRecentlyUsedFirst) {
  Collected c;
  auto key = [](int i) { return TokenKey{"t", "c" + std::to_string(i), "s"}; };
  for (int i = 0; i < 3; ++i) {
    cache.get(key(i), c.cb());
    source.complete_next(token("T" + std::to_string(i)));
  }
  cache.get(key(0), c.cb());  // 0 becomes most recent; 1 is now the oldest
  cache.get(key(3), c.cb());
  source.complete_next(token("T3"));
  EXPECT_EQ(cache.size(), 3u);
  int before = source.fetches;
  cache.get(key(0), c.cb());
  cache.get(key(2), c.cb());
  EXPECT_EQ(source.fetches, before);
  cache.get(key(1), c.cb());
  EXPECT_EQ(source.fetches, before + 1);
}

TEST_F(TokenCacheTest, EntriesWithAFetchInFlightAreNotEvicted) {
  Collected c;
  auto key = [](int i) { return TokenKey{"t", "c" + std::to_string(i), "s"}; };
  for (int i = 0; i < 5; ++i) cache.get(key(i), c.cb());
  EXPECT_EQ(cache.size(), 5u);  // over capacity while all are in flight
  for (int i = 0; i < 5; ++i) source.complete_next(token("T"));
  EXPECT_EQ(c.lookups.size(), 5u);
  cache.get(key(5), c.cb());
  EXPECT_LE(cache.size(), 3u);
  source.complete_next(token("T"));
}
