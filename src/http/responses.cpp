#include "http/responses.hpp"

#include "common/process_metrics.hpp"

namespace azwi::http {
namespace bhttp = boost::beast::http;

Response text_response(unsigned status, std::string body) {
  Response res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::content_type, "text/plain; charset=utf-8");
  res.body() = std::move(body);
  return res;
}

Handler metrics_handler(metrics::Registry& registry) {
  return [&registry](Request req, Responder respond) {
    std::string_view target = req.target();
    if (target.substr(0, target.find('?')) != "/metrics") return respond(text_response(404, "serves /metrics\n"));
    Response res{bhttp::status::ok, 11};
    res.set(bhttp::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    res.body() = registry.render();
    metrics::render_process_metrics(res.body());
    respond(std::move(res));
  };
}

}  // namespace azwi::http
