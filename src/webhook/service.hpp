#pragma once
// The webhook's HTTP handlers: POST /mutate-v1-pod (admission), /healthz and /readyz, /metrics.
// An admission whose service account is in memory is answered on the I/O thread; a miss is looked up on a small
// pool so that a slow API server never stalls the connections of other requests.
#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/metrics.hpp"
#include "http/server.hpp"
#include "kube/service_account.hpp"
#include "webhook/admission.hpp"
#include "webhook/config.hpp"
#include "webhook/mutation.hpp"

namespace azwi::webhook {

struct ServiceOptions {
  int lookup_threads = 2;
  std::size_t max_pending_lookups = 256;  // beyond this a miss is answered 500 at once rather than queued
  // Label sets of azwi_webhook_admission_requests_total before further namespaces are counted as namespace="_other":
  // the namespace comes from the request, and anyone who can reach the port can send any, so this bounds memory.
  std::size_t max_admission_label_sets = 10000;
};

class AdmissionService {
 public:
  AdmissionService(Config config, kube::ServiceAccountSource& accounts, std::function<ClusterVersion()> version,
                   metrics::Registry& registry, ServiceOptions options = {});
  ~AdmissionService();
  AdmissionService(const AdmissionService&) = delete;
  AdmissionService& operator=(const AdmissionService&) = delete;

  void handle(http::Request request, http::Responder respond);
  http::Handler handler() {
    return [this](http::Request req, http::Responder res) { handle(std::move(req), std::move(res)); };
  }

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// /healthz answers 200 while the process serves; /readyz answers 200 only when unready_reason returns nullopt,
// else 503 with the reason.
http::Handler health_handler(std::function<std::optional<std::string>()> unready_reason);

}  // namespace azwi::webhook
