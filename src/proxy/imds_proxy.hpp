#pragma once
// The sidecar's request routing: the IMDS token API answered from the token cache, health endpoints,
// and everything else passed through to the real IMDS.
#include <atomic>
#include <string>

#include "common/clock.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"
#include "http/server.hpp"
#include "identity/token_cache.hpp"
#include "imds/token_request.hpp"
#include "proxy/passthrough.hpp"

namespace azwi::proxy {

struct ImdsProxyConfig {
  std::string tenant_id;
  std::string default_client_id;
  // IDENTITY_HEADER: the secret of the App Service endpoint (imds/app_service.hpp); empty: that endpoint is off.
  std::string identity_header;
};

// Request counters and latency of one route; the counter of a status is found in its family without a lock.
class RouteMetrics {
 public:
  RouteMetrics(metrics::Registry& registry, std::string route);
  void observe(unsigned status, double seconds);

 private:
  std::string route_;
  metrics::Family<metrics::Counter>& requests_;
  metrics::Histogram& latency_;
};

class ImdsProxy {
 public:
  ImdsProxy(ImdsProxyConfig config, identity::TokenCache& cache, Passthrough& passthrough, Clock& clock,
            metrics::Registry& metrics);
  void handle(http::Request request, http::Responder respond);
  void set_ready(bool ready) { ready_ = ready; }

 private:
  void handle_token(const http::Request& request, http::Responder respond);
  void handle_app_service(const http::Request& request, http::Responder respond);
  // Answers a valid request of either protocol from the cache; `render_error` gives a failure its protocol's body.
  void serve_token(imds::TokenRequest request, http::Responder respond, std::string (*render_error)(const imds::Error&));
  static http::Responder counted(RouteMetrics& route, http::Responder respond);

  ImdsProxyConfig config_;
  identity::TokenCache& cache_;
  Passthrough& passthrough_;
  Clock& clock_;
  RouteMetrics token_metrics_;
  RouteMetrics app_service_metrics_;
  RouteMetrics passthrough_metrics_;
  std::atomic<bool> ready_{false};
  log::Logger log_{"proxy"};
};

// An IMDS-style JSON error answer (also used for malformed HTTP).
http::Response imds_error_response(unsigned status, std::string error, std::string description);

}  // namespace azwi::proxy
