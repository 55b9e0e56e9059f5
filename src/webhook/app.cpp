#include "webhook/app.hpp"

#include <boost/asio/signal_set.hpp>

#include "common/log.hpp"
#include "common/metrics.hpp"
#include "http/responses.hpp"
#include "http/server_group.hpp"
#include "kube/cache.hpp"
#include "kube/client.hpp"
#include "webhook/service.hpp"

namespace azwi::webhook {
namespace asio = boost::asio;

struct App::Impl {
  Impl(AppOptions o, Clock& clock)
      : options(std::move(o)),
        tls(options.cert_dir + "/tls.crt", options.cert_dir + "/tls.key", options.tls_min_version),
        api(options.cluster),
        accounts(api, &registry, options.service_accounts),
        versions(api),
        group(options.threads),
        service(options.config, accounts, [this] { return cluster_version(); }, registry) {
    if (options.rotation) rotator = std::make_unique<CertRotator>(api, *options.rotation, clock);
  }

  ClusterVersion cluster_version() {
    auto v = versions.current();
    // Unknown version: the upstream order works on every cluster.
    return v ? ClusterVersion{v->major, v->minor} : ClusterVersion{};
  }

  std::optional<std::string> unready() {
    if (rotator)
      if (auto reason = rotator->unready_reason()) return reason;
    if (!tls.current()) return "serving certificate not loaded: " + tls.last_error();
    if (!accounts.synced()) return "service account cache not synced: " + accounts.last_error();
    if (!versions.current()) return "API server version unknown: " + versions.last_error();
    return std::nullopt;
  }

  AppOptions options;
  log::Logger log{"webhook"};
  http::ReloadingTlsProvider tls;
  metrics::Registry registry;
  kube::ApiClient api;
  kube::ServiceAccountCache accounts;
  kube::VersionTracker versions;
  // Before the service: destroyed after it. The service's destructor waits for its lookups, whose answers release
  // connections (and their timers) that must still find the servers' io_contexts alive.
  http::ServerGroup group;
  AdmissionService service;
  std::unique_ptr<CertRotator> rotator;
  std::unique_ptr<asio::signal_set> signals;
  std::uint16_t webhook_port = 0;
  const http::Server* health = nullptr;
  const http::Server* metrics = nullptr;
};

App::App(AppOptions options, Clock& clock) : impl_(std::make_unique<Impl>(std::move(options), clock)) {}
App::~App() = default;

void App::start() {
  Impl& m = *impl_;
  if (!m.tls.current())
    m.log.warn("serving certificate not loaded yet; not ready until it is", {{"reason", m.tls.last_error()}});
  m.accounts.start();
  m.versions.start();
  if (m.rotator) m.rotator->start();

  http::ServerOptions admission;
  admission.body_limit = 3 * 1024 * 1024;  // the API server's own request limit
  admission.header_timeout = std::chrono::seconds(10);
  admission.idle_timeout = std::chrono::seconds(90);
  admission.tls = m.tls.provider();
  m.webhook_port = m.group.add_per_thread(m.options.webhook, m.service.handler(), admission, std::chrono::seconds(5));
  http::ServerOptions plain;
  plain.body_limit = 1024;
  m.health = &m.group.add(m.options.health, health_handler([&m] { return m.unready(); }), plain,
                          std::chrono::seconds(1));
  m.metrics = &m.group.add(m.options.metrics, http::metrics_handler(m.registry), plain, std::chrono::seconds(1));
  m.group.start();
}

const AppOptions& App::options() const { return impl_->options; }
std::uint16_t App::webhook_port() const { return impl_->webhook_port; }
std::uint16_t App::health_port() const { return impl_->health->port(); }
std::uint16_t App::metrics_port() const { return impl_->metrics->port(); }

void App::stop_on_signals() {
  Impl& m = *impl_;
  m.signals = std::make_unique<asio::signal_set>(m.group.io(), SIGINT, SIGTERM);
  m.signals->async_wait([&m](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    m.log.info("shutting down", {{"signal", sig}});
    m.group.shutdown();
  });
}

void App::run() {
  Impl& m = *impl_;
  m.group.run();
  if (m.rotator) m.rotator->stop();
  m.accounts.stop();
  m.versions.stop();
}

void App::shutdown() { impl_->group.shutdown(); }

}  // namespace azwi::webhook
