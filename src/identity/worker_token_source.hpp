#pragma once
// Runs blocking Entra exchanges on a small pool of worker threads, so the serving thread never waits on the network.
#include <boost/asio/thread_pool.hpp>

#include "common/log.hpp"
#include "common/metrics.hpp"
#include "identity/entra_exchanger.hpp"
#include "identity/token_cache.hpp"

namespace azwi::identity {

class WorkerTokenSource final : public TokenSource {
 public:
  WorkerTokenSource(EntraExchanger& exchanger, Clock& clock, metrics::Registry* metrics, std::size_t threads = 2);
  ~WorkerTokenSource() override;
  void fetch(const TokenKey& key, std::function<void(FetchResult)> done) override;

 private:
  EntraExchanger& exchanger_;
  Clock& clock_;
  metrics::Registry* metrics_;
  boost::asio::thread_pool pool_;
  log::Logger log_{"token-exchange"};
};

}  // namespace azwi::identity
