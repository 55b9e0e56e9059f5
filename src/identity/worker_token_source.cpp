#include "identity/worker_token_source.hpp"

#include <boost/asio/post.hpp>

#include "jwt/digest.hpp"

namespace azwi::identity {

WorkerTokenSource::WorkerTokenSource(EntraExchanger& exchanger, Clock& clock, metrics::Registry* metrics,
                                     std::size_t threads)
    : exchanger_(exchanger), clock_(clock), metrics_(metrics), pool_(threads) {}

WorkerTokenSource::~WorkerTokenSource() {
  pool_.stop();
  pool_.join();
}

void WorkerTokenSource::fetch(const TokenKey& key, std::function<void(FetchResult)> done) {
  boost::asio::post(pool_, [this, key, done = std::move(done)] {
    auto start = std::chrono::steady_clock::now();
    // An exception escaping a pool thread would end the sidecar: it becomes this fetch's error instead.
    FetchResult result = [&]() -> FetchResult {
      try {
        return exchanger_.exchange(key);
      } catch (const std::exception& e) {
        return TokenError{TokenError::Kind::local, "internal_error", std::string("the exchange failed: ") + e.what(), {}};
      } catch (...) {
        return TokenError{TokenError::Kind::local, "internal_error", "the exchange failed", {}};
      }
    }();
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
    if (auto* t = std::get_if<AccessToken>(&result)) {
      log_.info("successfully acquired token", {{"clientID", key.client_id},
                                                {"scope", key.scope},
                                                {"expiresOn", unix_seconds(t->expires_on)},
                                                {"tokenFingerprint", jwt::fingerprint(t->value)},
                                                {"durationMs", ms}});
      if (metrics_) metrics_->counter("azwi_proxy_token_exchanges_total", "Exchanges with Entra ID by result.",
                                      {{"result", "success"}}).inc();
    } else {
      const auto& e = std::get<TokenError>(result);
      log_.error("failed to acquire token", {{"clientID", key.client_id},
                                             {"scope", key.scope},
                                             {"kind", kind_name(e.kind)},
                                             {"error", e.error},
                                             {"reason", e.description},
                                             {"durationMs", ms}});
      if (metrics_) metrics_->counter("azwi_proxy_token_exchanges_total", "Exchanges with Entra ID by result.",
                                      {{"result", std::string(kind_name(e.kind))}}).inc();
    }
    if (metrics_) metrics_->histogram("azwi_proxy_token_exchange_duration_seconds",
                                      "Duration of exchanges with Entra ID, retries included.",
                                      metrics::latency_buckets()).observe(double(ms) / 1000.0);
    done(std::move(result));
  });
}

}  // namespace azwi::identity
