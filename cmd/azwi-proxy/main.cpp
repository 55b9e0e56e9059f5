// azwi-proxy: serves the IMDS managed-identity token API on 127.0.0.1 from workload identity federation.
#include <malloc.h>
#include <unistd.h>

#ifdef AZWI_SANITIZE
#include <sanitizer/lsan_interface.h>
#endif

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdio>
#include <optional>

#include "common/clock.hpp"
#include "common/flags.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"
#include "http/responses.hpp"
#include "http/server.hpp"
#include "identity/entra_exchanger.hpp"
#include "identity/token_cache.hpp"
#include "identity/worker_token_source.hpp"
#include "proxy/config.hpp"
#include "proxy/imds_proxy.hpp"
#include "proxy/passthrough.hpp"
#include "proxy/probe.hpp"

using namespace azwi;
namespace asio = boost::asio;

int main(int argc, char** argv) {
  // Few threads, small heap: keep glibc from creating an arena per thread.
  mallopt(M_ARENA_MAX, 2);
  proxy::Config config;
  FlagSet flags("azwi-proxy",
                "Serves the Azure Instance Metadata Service token API (and, given IDENTITY_HEADER, the App Service\n"
                "managed-identity endpoint) on 127.0.0.1 for applications written for\n"
                "managed identity, exchanging the pod's service account token with Microsoft Entra ID.");
  proxy::register_flags(flags, config);
  parse_flags_or_exit(flags, argc, argv);
  config.logging.apply_or_exit("azwi-proxy");
  log::Logger log("proxy");

  if (config.probe) return proxy::run_probe(static_cast<std::uint16_t>(config.port));

  if (auto problem = proxy::load_environment(config)) {
    log.error("cannot start", {{"reason", *problem}});
    return 1;
  }
  std::optional<proxy::UpstreamEndpoint> upstream;
  try {
    upstream = proxy::parse_upstream(config.imds_endpoint);
  } catch (const std::exception& e) {
    log.error("cannot start", {{"reason", e.what()}});
    return 2;
  }

  asio::io_context io(1);
  SystemClock clock;
  metrics::Registry registry;
  auto egress = http::EgressProxySettings::from_environment();
  for (const auto& problem : egress.problems()) log.warn("egress proxy setting ignored", {{"reason", problem}});
  http::ClientOptions client = http::client_options_from_env(proxy::user_agent());
  if (!config.token_proxy.empty()) {
    // The token endpoint's own trust anchors (when given) replace the store; the file is re-read when it changes.
    if (!config.ca_file.empty() || !config.ca_data.empty()) {
      client.ca_file = config.ca_file;
      client.ca_dir.clear();
      client.ca_pem = config.ca_data;
    }
    client.tls_server_name = config.sni_name;
  }
  identity::AsioTransport transport(std::move(client), std::move(egress));
  identity::RetryPolicy retry;
  retry.deadline = std::chrono::seconds(config.entra_timeout_seconds);
  identity::ExchangeConfig exchange{config.authority_host, config.token_file, retry};
  if (!config.token_proxy.empty()) {
    exchange.authority_host = config.token_proxy;
    exchange.endpoint_name = "the token endpoint";
    exchange.trust_hint =
        "does AZURE_KUBERNETES_CA_FILE or AZURE_KUBERNETES_CA_DATA hold its CA, and AZURE_KUBERNETES_SNI_NAME a name "
        "its certificate carries?";
  }
  identity::EntraExchanger exchanger(clock, transport, exchange);
  identity::WorkerTokenSource source(exchanger, clock, &registry);
  identity::TokenCache cache(clock, source);
  proxy::Passthrough passthrough(io, *upstream);
  proxy::ImdsProxy imds(proxy::ImdsProxyConfig{config.tenant_id, config.client_id, config.identity_header}, cache, passthrough, clock,
                        registry);

  http::ServerOptions options;
  options.error_response = [](unsigned status, std::string_view message) {
    return proxy::imds_error_response(status, "invalid_request", std::string(message));
  };
  http::Server server(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), config.port),
                      [&imds](http::Request req, http::Responder respond) {
                        imds.handle(std::move(req), std::move(respond));
                      },
                      options);
  std::optional<http::Server> metrics_server;
  // Before the port opens: a SIGTERM as soon as the port answers (kubelet, a test) must drain, not kill.
  asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    log.info("shutting down", {{"signal", signo == SIGTERM ? "SIGTERM" : "SIGINT"}});
    imds.set_ready(false);
    if (metrics_server) metrics_server->shutdown(std::chrono::milliseconds(0), nullptr);
    server.shutdown(std::chrono::seconds(5), [&] {
      log.info("stopped");
      io.stop();
    });
  });
  try {
    server.start();
    if (!config.metrics_addr.empty()) {
      metrics_server.emplace(io, http::parse_endpoint(config.metrics_addr),
                             http::metrics_handler(registry));
      metrics_server->start();
    }
  } catch (const std::exception& e) {
    log.error("cannot listen", {{"port", config.port}, {"metricsAddr", config.metrics_addr}, {"reason", e.what()}});
    return 1;
  }
  imds.set_ready(true);
  log.info("starting the proxy server", {{"port", config.port},
                                         {"userAgent", proxy::user_agent()},
                                         {"tenantID", config.tenant_id},
                                         {"clientID", config.client_id},
                                         {"authorityHost", config.authority_host},
                                         {"tokenProxy", config.token_proxy},
                                         {"sniName", config.sni_name},
                                         {"imdsEndpoint", config.imds_endpoint},
                                         {"identityEndpoint", !config.identity_header.empty()}});

  io.run();
  std::fflush(nullptr);
#ifdef AZWI_SANITIZE
  __lsan_do_leak_check();  // _exit skips LeakSanitizer's check at exit
#endif
  // Worker threads may still wait on Entra ID; nothing they hold needs an orderly teardown.
  _exit(0);
}
