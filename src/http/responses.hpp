#pragma once
// Small answers every binary builds: plain text, and the Prometheus /metrics endpoint.
#include <string>

#include "common/metrics.hpp"
#include "http/server.hpp"

namespace azwi::http {

Response text_response(unsigned status, std::string body);
// Serves registry at /metrics (Prometheus text format 0.0.4); 404 elsewhere.
Handler metrics_handler(metrics::Registry& registry);

}  // namespace azwi::http
