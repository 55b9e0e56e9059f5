#include "proxy/imds_proxy.hpp"

#include <boost/beast/http/field.hpp>

#include "http/responses.hpp"
#include "identity/authority.hpp"
#include "imds/app_service.hpp"
#include "imds/token_request.hpp"
#include "imds/token_response.hpp"

namespace azwi::proxy {
namespace bhttp = boost::beast::http;
using identity::TokenError;

namespace {
constexpr std::string_view kJson = "application/json; charset=utf-8";

http::Response json_response(unsigned status, std::string body) {
  http::Response res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::content_type, kJson);
  res.body() = std::move(body);
  return res;
}


http::Response error_response(const imds::Error& e,
                              std::string (*render)(const imds::Error&) = imds::render_error_body) {
  auto res = json_response(e.status, render(e));
  if (e.status == 405) res.set(bhttp::field::allow, "GET");
  if (e.retry_after_seconds) res.set(bhttp::field::retry_after, std::to_string(*e.retry_after_seconds));
  return res;
}

// How a failed exchange looks to an IMDS client: Entra's rejection stays a 400 with its AADSTS text (SDKs show it),
// throttling stays 429, an outage is a 503 and a timeout a 504 (SDKs retry both).
imds::Error to_imds_error(const TokenError& e) {
  imds::Error out{500, e.error, e.description, std::nullopt};
  if (e.retry_after) out.retry_after_seconds = e.retry_after->count();
  switch (e.kind) {
    case TokenError::Kind::rejected: out.status = 400; break;
    case TokenError::Kind::throttled: out.status = 429; break;
    case TokenError::Kind::unavailable: out.status = 503; break;
    case TokenError::Kind::timeout: out.status = 504; break;
    case TokenError::Kind::local: out.status = 500; break;
  }
  return out;
}
}  // namespace

http::Response imds_error_response(unsigned status, std::string error, std::string description) {
  return error_response({status, std::move(error), std::move(description), std::nullopt});
}

RouteMetrics::RouteMetrics(metrics::Registry& registry, std::string route)
    : route_(std::move(route)),
      requests_(registry.counter_family("azwi_proxy_requests_total", "Requests served, by route and HTTP status.",
                                        {"route", "code"})),
      latency_(registry.histogram("azwi_proxy_request_duration_seconds", "Time from request to answer, by route.",
                                  metrics::latency_buckets(), {{"route", route_}})) {}

void RouteMetrics::observe(unsigned status, double seconds) {
  requests_.labels({route_, std::to_string(status)}).inc();
  latency_.observe(seconds);
}

ImdsProxy::ImdsProxy(ImdsProxyConfig config, identity::TokenCache& cache, Passthrough& passthrough, Clock& clock,
                     metrics::Registry& metrics)
    : config_(std::move(config)), cache_(cache), passthrough_(passthrough), clock_(clock),
      token_metrics_(metrics, "token"), app_service_metrics_(metrics, "identity-endpoint"), passthrough_metrics_(metrics, "passthrough") {}

http::Responder ImdsProxy::counted(RouteMetrics& route, http::Responder respond) {
  auto start = std::chrono::steady_clock::now();
  return [&route, start, respond = std::move(respond)](http::Response res) {
    route.observe(res.result_int(), std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    respond(std::move(res));
  };
}

void ImdsProxy::handle(http::Request request, http::Responder respond) {
  std::string_view target = request.target();
  if (imds::is_token_path(target)) return handle_token(request, counted(token_metrics_, std::move(respond)));
  if (imds::is_app_service_path(target))
    return handle_app_service(request, counted(app_service_metrics_, std::move(respond)));
  std::string_view path = target.substr(0, target.find('?'));
  if (path == "/healthz") return respond(http::text_response(200, "ok\n"));
  if (path == "/readyz") {
    return respond(ready_ ? http::text_response(200, "ok\n") : http::text_response(503, "shutting down\n"));
  }
  log_.debug("passing request through to IMDS", {{"method", std::string_view(request.method_string())},
                                                 {"uri", target}});
  passthrough_.forward(std::move(request), counted(passthrough_metrics_, std::move(respond)));
}

void ImdsProxy::handle_token(const http::Request& request, http::Responder respond) {
  log_.info("received token request", {{"method", std::string_view(request.method_string())},
                                       {"uri", std::string_view(request.target())}});
  imds::RequestView view{request.method_string(), request.target(), std::nullopt,
                         request.find("X-Forwarded-For") != request.end()};
  if (auto it = request.find("Metadata"); it != request.end()) view.metadata_header = it->value();
  auto parsed = imds::parse_token_request(view, config_.default_client_id);
  if (auto* err = std::get_if<imds::Error>(&parsed)) {
    log_.warn("refused token request", {{"status", err->status}, {"reason", err->description}});
    return respond(error_response(*err));
  }
  serve_token(std::get<imds::TokenRequest>(std::move(parsed)), std::move(respond), imds::render_error_body);
}

void ImdsProxy::handle_app_service(const http::Request& request, http::Responder respond) {
  log_.info("received token request", {{"method", std::string_view(request.method_string())},
                                       {"uri", std::string_view(request.target())},
                                       {"protocol", "app-service"}});
  if (config_.identity_header.empty()) {
    imds::Error off{404, "not_found",
                    "the identity endpoint is off: this proxy was started without IDENTITY_HEADER (the webhook sets "
                    "it in identity-endpoint mode)",
                    std::nullopt};
    log_.warn("refused token request", {{"status", off.status}, {"reason", off.description}});
    return respond(error_response(off, imds::render_app_service_error_body));
  }
  imds::AppServiceRequestView view{request.method_string(), request.target(), std::nullopt};
  if (auto it = request.find(imds::kIdentityHeaderName); it != request.end()) view.identity_header = it->value();
  auto parsed = imds::parse_app_service_request(view, config_.identity_header, config_.default_client_id);
  if (auto* err = std::get_if<imds::Error>(&parsed)) {
    // The reason names the header, never its value.
    log_.warn("refused token request", {{"status", err->status}, {"reason", err->description}});
    return respond(error_response(*err, imds::render_app_service_error_body));
  }
  serve_token(std::get<imds::TokenRequest>(std::move(parsed)), std::move(respond), imds::render_app_service_error_body);
}

void ImdsProxy::serve_token(imds::TokenRequest req, http::Responder respond,
                            std::string (*render_error)(const imds::Error&)) {
  identity::TokenKey key{config_.tenant_id, req.client_id, identity::scope_for_resource(req.resource)};
  cache_.get(key, [this, req = std::move(req), respond = std::move(respond),
                   render_error](identity::TokenCache::Lookup r) {
    if (r.error) {
      return respond(error_response(to_imds_error(*r.error), render_error));
    }
    if (r.outcome != identity::TokenCache::Outcome::miss) {
      log_.debug("token served from cache", {{"clientID", req.client_id},
                                             {"resource", req.resource},
                                             {"cache", identity::outcome_name(r.outcome)}});
    }
    imds::TokenAnswer answer{r.token->value, req.client_id, req.resource, unix_seconds(r.token->expires_on),
                             unix_seconds(r.token->ext_expires_on), unix_seconds(r.token->issued_at)};
    respond(json_response(200, imds::render_token_body(answer, unix_seconds(clock_.now()))));
  });
}

}  // namespace azwi::proxy
