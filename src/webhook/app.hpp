#pragma once
// The webhook assembled: the service-account cache and version tracker, the admission service, certificate
// rotation, and its three listeners (admission over TLS on every thread, health and metrics in plain HTTP). The
// binary's main fills AppOptions from its flags; tests can start it in-process the same way.
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "common/clock.hpp"
#include "http/tls.hpp"
#include "kube/cache.hpp"
#include "kube/cluster_config.hpp"
#include "webhook/cert_rotation.hpp"
#include "webhook/config.hpp"

namespace azwi::webhook {

struct AppOptions {
  Config config;
  kube::ClusterConfig cluster;
  boost::asio::ip::tcp::endpoint webhook, health, metrics;
  std::string cert_dir;  // tls.crt and tls.key, reloaded when they change
  http::TlsVersion tls_min_version = http::TlsVersion::v1_3;
  std::optional<CertRotationOptions> rotation;  // nullopt: only read the certificate (e.g. cert-manager's)
  unsigned threads = 2;                         // I/O threads, each with its own admission listener
  kube::CacheOptions service_accounts;          // how the ServiceAccount cache lists and watches
};

class App {
 public:
  App(AppOptions options, Clock& clock);
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  // Starts the API watchers and certificate rotation and binds the listeners. Throws std::exception (an address
  // in use) with a message for the user.
  void start();
  const AppOptions& options() const;
  std::uint16_t webhook_port() const;
  std::uint16_t health_port() const;
  std::uint16_t metrics_port() const;
  // Shuts down on SIGINT or SIGTERM.
  void stop_on_signals();
  // Serves until shutdown(), then stops the background work.
  void run();
  // Drains the listeners (admissions get 5 s, health and metrics 1 s); run() then returns. Any thread.
  void shutdown();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace azwi::webhook
