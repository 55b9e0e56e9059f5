#include "emulator/app.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json/object.hpp>
#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <thread>

#include "common/log.hpp"
#include "emulator/arm.hpp"
#include "emulator/certs.hpp"
#include "emulator/control.hpp"
#include "emulator/entra.hpp"
#include "emulator/files.hpp"
#include "emulator/imds.hpp"
#include "emulator/issuer.hpp"
#include "emulator/jwks_cache.hpp"
#include "emulator/keyring.hpp"
#include "emulator/request_log.hpp"
#include "http/server.hpp"
#include "http/tls.hpp"

namespace azwi::emulator {
namespace asio = boost::asio;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    auto slash = path.find('/');
    out.push_back(path.substr(0, slash));
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash);
  }
  return out;
}

std::string url_host(const asio::ip::address& addr) {
  if (addr.is_unspecified()) return addr.is_v6() ? "[::1]" : "127.0.0.1";
  return addr.is_v6() ? "[" + addr.to_string() + "]" : addr.to_string();
}

// Own CA first, then whatever the process would trust anyway (SSL_CERT_FILE or the system bundle).
fs::path write_trust_bundle(const fs::path& dir, const fs::path& ca_cert) {
  std::string bundle = read_file(ca_cert).value_or("");
  const char* env_file = std::getenv("SSL_CERT_FILE");
  fs::path extra = env_file && *env_file ? fs::path(env_file) : fs::path("/etc/ssl/certs/ca-certificates.crt");
  if (auto more = read_file(extra); more && extra != ca_cert) bundle += "\n" + *more;
  fs::path out = dir / "trust-bundle.pem";
  write_file_atomically(out, bundle, 0644);
  return out;
}

struct TokenLog {
  std::string tenant;
  const EntraAnswer* answer = nullptr;
  std::string fault;
};

}  // namespace

namespace {
// The token proxy's path as a URL's: one leading '/', no trailing one (whatever form the flag was given in).
ServeOptions with_clean_token_proxy_path(ServeOptions o) {
  if (!o.token_proxy_path.starts_with('/')) o.token_proxy_path.insert(0, "/");
  while (o.token_proxy_path.size() > 1 && o.token_proxy_path.back() == '/') o.token_proxy_path.pop_back();
  return o;
}
}  // namespace

struct Emulator::Impl {
  Impl(ServeOptions o, Clock& c)
      : options(with_clean_token_proxy_path(std::move(o))), clock(c), workers(static_cast<std::size_t>(options.worker_threads)),
        issuer_keys(options.state_dir / "issuer-keys.json"),
        entra_keys(options.state_dir / "entra-keys.json", 600), faults(c), log(options.request_log_size) {}

  ServeOptions options;
  Clock& clock;
  log::Logger logger{"emulator"};
  asio::io_context io;
  // Set up before the ready file is written, so that a SIGTERM sent as soon as it appears is queued for run() to
  // handle instead of ending the process the default way.
  asio::signal_set signals{io, SIGINT, SIGTERM};
  asio::thread_pool workers;
  KeyRing issuer_keys, entra_keys;
  Faults faults;
  RequestLog log;
  std::unique_ptr<JwksCache> jwks;
  std::unique_ptr<EntraService> entra;
  std::unique_ptr<ArmService> arm;
  std::unique_ptr<OidcIssuer> issuer;
  std::unique_ptr<ControlContext> control;
  std::unique_ptr<http::Server> https, imds, token_proxy;
  std::string base_url, issuer_url, imds_url, token_proxy_url;
  TlsFiles tls, token_proxy_tls;

  void send(const http::Responder& respond, const std::string& method, const std::string& path, Reply r,
            std::chrono::steady_clock::time_point started, const TokenLog* token = nullptr,
            const char* listener = "") {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
    if (token && token->answer) {
      const EntraAnswer& a = *token->answer;
      logger.info("token request", {{"method", method}, {"path", path}, {"status", r.status}, {"duration_ms", ms},
                                    {"tenant", token->tenant}, {"client_id", a.client_id}, {"subject", a.subject},
                                    {"error_code", a.error_code}, {"fault", token->fault},
                                    {"access_token_fingerprint", a.token_fingerprint},
                                    {"listener", std::string_view(*listener ? listener : "main")}});
    } else {
      logger.info("request", {{"method", method}, {"path", path}, {"status", r.status}, {"duration_ms", ms}});
    }
    http::Response res{static_cast<boost::beast::http::status>(r.status), 11};
    if (!r.body.empty() || r.status != 204) res.set(boost::beast::http::field::content_type, r.content_type);
    res.set(boost::beast::http::field::cache_control, "no-store, no-cache");
    res.set(boost::beast::http::field::server, "azwi-emulator");
    for (const auto& [k, v] : r.headers) res.set(k, v);
    res.body() = std::move(r.body);
    respond(std::move(res));
  }

  // `listener`: "" for the main one, "token-proxy" for requests the token proxy hands over (the request log says so).
  void handle(http::Request req, http::Responder respond, const char* listener = "") {
    auto started = std::chrono::steady_clock::now();
    std::string method(req.method_string());
    std::string target(req.target());
    auto q = target.find('?');
    std::string path = target.substr(0, q);
    std::string query = q == std::string::npos ? "" : target.substr(q + 1);

    if (auto r = handle_control(*control, method, path, req.body())) return send(respond, method, path, *r, started);
    if (auto r = issuer->handle(method, path)) return send(respond, method, path, *r, started);
    if (auto r = arm->handle(method, path, query, req[boost::beast::http::field::authorization], req.body()))
      return send(respond, method, path, *r, started);
    if (path == "/healthz") return send(respond, method, path, Reply{200, "ok\n", "text/plain", {}}, started);

    auto segs = split_path(path);
    auto is = [&](std::initializer_list<std::string_view> tail) {
      if (segs.size() != tail.size() + 1) return false;
      std::size_t i = 1;
      for (auto t : tail)
        if (segs[i++] != t) return false;
      return true;
    };
    if (!segs.empty() && is({"oauth2", "v2.0", "token"})) return token(std::move(req), std::move(respond), std::string(segs[0]), method, path, started, listener);
    auto get_only = [&]() -> std::optional<Reply> {
      if (method == "GET") return std::nullopt;
      Reply r = json_error(405, "method_not_allowed", "only GET is served here");
      r.headers.emplace_back("Allow", "GET");
      return r;
    };
    if (!segs.empty() && (is({"v2.0", ".well-known", "openid-configuration"}) || is({".well-known", "openid-configuration"}))) {
      if (auto r = get_only()) return send(respond, method, path, *r, started);
      auto a = entra->openid_configuration(segs[0], segs[1] == "v2.0");
      return send(respond, method, path, json_reply(a.status, a.body), started);
    }
    if (!segs.empty() && (is({"discovery", "v2.0", "keys"}) || is({"discovery", "keys"}))) {
      if (auto r = get_only()) return send(respond, method, path, *r, started);
      return send(respond, method, path, json_reply(200, entra->jwks()), started);
    }
    if (!segs.empty() && is({"discovery", "instance"})) {
      if (auto r = get_only()) return send(respond, method, path, *r, started);
      auto a = entra->instance_discovery(parse_form(query).value_or(Form{}));
      return send(respond, method, path, json_reply(a.status, a.body), started);
    }
    send(respond, method, path, json_error(404, "not_found", "no such endpoint: " + path), started);
  }

  void token(http::Request req, http::Responder respond, std::string tenant, std::string method, std::string path,
             std::chrono::steady_clock::time_point started, const char* listener) {
    // Validation may fetch an issuer's JWKS (possibly from this very server), so it runs off the I/O threads.
    asio::post(workers, [this, listener, req = std::move(req), respond = std::move(respond), tenant = std::move(tenant),
                         method = std::move(method), path = std::move(path), started]() mutable {
      std::string content_type(req[boost::beast::http::field::content_type]);
      std::string correlation(req["client-request-id"]);
      FaultDecision decision = faults.decide();
      EntraAnswer answer;
      if (decision.fail_status) {
        unsigned status = *decision.fail_status;
        answer = status == 429 ? entra_error(429, "temporarily_unavailable", 90055,
                                             "The request is throttled temporarily. Please try after some time.",
                                             base_url, clock.now(), correlation)
                               : entra_error(status, "temporarily_unavailable", 90033,
                                             "A transient error has occurred. Please try again.", base_url,
                                             clock.now(), correlation);
      } else if (method != "POST") {
        answer = entra_error(400, "invalid_request", 900561,
                             "The endpoint only accepts POST requests. Received a " + method + " request.", base_url,
                             clock.now(), correlation);
      } else {
        // A worker thread has no server above it to catch an exception: it becomes Entra's own 500.
        try {
          answer = entra->token(tenant, content_type, req.body(), correlation);
        } catch (const std::exception& e) {
          logger.error("token request failed", {{"reason", e.what()}});
          answer = entra_error(500, "server_error", 50000, "There was an error issuing a token.", base_url,
                               clock.now(), correlation);
        }
      }
      Form form;
      if (content_type.starts_with("application/x-www-form-urlencoded"))
        form = parse_form(req.body()).value_or(Form{});
      log.record_token(method, path, answer.status, form, answer.error_code, decision.reason, listener);

      Reply r = json_reply(answer.status, answer.body);
      r.headers.emplace_back("Pragma", "no-cache");
      if (!correlation.empty()) r.headers.emplace_back("client-request-id", correlation);
      if (decision.fail_status && decision.retry_after > 0)
        r.headers.emplace_back("Retry-After", std::to_string(decision.retry_after));
      auto deliver = [this, listener, respond, method, path, started, tenant, answer,
                      fault = decision.reason](Reply reply) {
        TokenLog tl{tenant, &answer, fault};
        send(respond, method, path, std::move(reply), started, &tl, listener);
      };
      if (decision.latency.count() > 0) {
        auto timer = std::make_shared<asio::steady_timer>(io, decision.latency);
        timer->async_wait([timer, deliver, r](const boost::system::error_code&) mutable { deliver(std::move(r)); });
      } else {
        deliver(std::move(r));
      }
    });
  }

  // The token proxy hands every Entra request under its path (the SDKs send discovery through it as well as the
  // exchange, their paths joined under the proxy URL's) to the Entra role, without that path; nothing else.
  void handle_token_proxy(http::Request req, http::Responder respond) {
    auto started = std::chrono::steady_clock::now();
    std::string target(req.target());
    const std::string& base = options.token_proxy_path;
    bool under = base == "/" || (target.starts_with(base) && (target.size() == base.size() ||
                                                              target[base.size()] == '/' || target[base.size()] == '?'));
    std::string rest = base == "/" ? target : target.substr(std::min(base.size(), target.size()));
    if (rest.empty() || rest.front() != '/') rest.insert(0, "/");
    if (!under || rest.starts_with("/_emulator")) {
      return send(respond, std::string(req.method_string()), target.substr(0, target.find('?')),
                  json_error(404, "not_found", "the token proxy serves Entra ID's endpoints under " + base), started);
    }
    req.target(rest);
    handle(std::move(req), std::move(respond), "token-proxy");
  }

  void handle_imds(http::Request req, http::Responder respond) {
    auto started = std::chrono::steady_clock::now();
    ImdsRequest ir{std::string(req.method_string()), std::string(req.target()), {}};
    for (const auto& f : req) ir.headers.emplace(std::string(f.name_string()), std::string(f.value()));
    log.count_imds();
    Reply r = emulator::handle_imds(ir);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
    std::string path = ir.target.substr(0, ir.target.find('?'));
    logger.info("imds request", {{"method", ir.method}, {"path", path}, {"status", r.status}, {"duration_ms", ms}});
    http::Response res{static_cast<boost::beast::http::status>(r.status), 11};
    res.set(boost::beast::http::field::content_type, r.content_type);
    res.set(boost::beast::http::field::server, "azwi-emulator-imds");
    res.body() = std::move(r.body);
    respond(std::move(res));
  }

  json::object info() {
    json::object o;
    o["base_url"] = base_url;
    o["issuer"] = issuer_url;
    o["jwks_uri"] = issuer->jwks_uri();
    o["ca_file"] = tls.ca_cert.string();
    o["state_dir"] = options.state_dir.string();
    if (!imds_url.empty()) o["imds_url"] = imds_url;
    if (!token_proxy_url.empty()) {
      o["token_proxy_url"] = token_proxy_url;
      o["token_proxy_name"] = options.token_proxy_name;
      o["token_proxy_ca_file"] = token_proxy_tls.ca_cert.string();
    }
    json::array tenants;
    for (const auto& t : entra->directory()->tenants) {
      json::array ids;
      for (const auto& i : t.identities) ids.push_back(json::string(i.client_id));
      tenants.push_back(json::object{{"id", t.id}, {"client_ids", std::move(ids)}});
    }
    o["tenants"] = std::move(tenants);
    return o;
  }
};

Emulator::Emulator(ServeOptions options, Clock& clock) : impl_(std::make_unique<Impl>(std::move(options), clock)) {}

Emulator::~Emulator() {
  impl_->workers.join();
}

std::string Emulator::base_url() const { return impl_->base_url; }
std::string Emulator::issuer_url() const { return impl_->issuer_url; }

namespace {
void refuse_remote(const asio::ip::tcp::endpoint& endpoint, std::string_view flag, bool allowed) {
  if (allowed || endpoint.address().is_loopback()) return;
  throw std::runtime_error(std::string(flag) + " " + endpoint.address().to_string() +
                           " is not a loopback address: anyone who reaches it gets tokens and the control API; "
                           "add --allow-remote to listen there anyway");
}
}  // namespace

void Emulator::start() {
  Impl& m = *impl_;
  const auto& o = m.options;
  if (o.state_dir.empty()) throw std::runtime_error("--state-dir is required");
  fs::create_directories(o.state_dir);
  fs::permissions(o.state_dir, fs::perms::owner_all, fs::perm_options::replace);

  auto endpoint = http::parse_endpoint(o.listen);
  refuse_remote(endpoint, "--listen", o.allow_remote);
  if (o.imds) refuse_remote(http::parse_endpoint(o.imds_listen), "--imds-listen", o.allow_remote);
  if (!o.token_proxy_listen.empty())
    refuse_remote(http::parse_endpoint(o.token_proxy_listen), "--token-proxy-listen", o.allow_remote);
  std::vector<std::string> sans = o.sans;
  if (!endpoint.address().is_unspecified()) sans.push_back(endpoint.address().to_string());
  m.tls = ensure_tls(o.state_dir, sans);
  std::int64_t now = unix_seconds(m.clock.now());
  m.issuer_keys.ensure(now);
  m.entra_keys.ensure(now);

  auto tls_ctx = http::make_server_tls_context(m.tls.server_cert.string(), m.tls.server_key.string());
  http::ServerOptions so;
  so.tls = [tls_ctx] { return tls_ctx; };
  so.error_response = [](unsigned status, std::string_view message) {
    Reply r = json_error(status, "invalid_request", std::string(message));
    http::Response res{static_cast<boost::beast::http::status>(status), 11};
    res.set(boost::beast::http::field::content_type, r.content_type);
    res.body() = r.body;
    return res;
  };
  m.https = std::make_unique<http::Server>(
      m.io, endpoint, [&m](http::Request req, http::Responder respond) { m.handle(std::move(req), std::move(respond)); },
      so);
  try {
    m.https->start();
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot listen on " + o.listen + ": " + e.what());
  }
  m.base_url = o.public_url.empty()
                   ? "https://" + url_host(endpoint.address()) + ":" + std::to_string(m.https->port()) + "/"
                   : o.public_url;
  if (!m.base_url.ends_with('/')) m.base_url += '/';
  m.issuer_url = m.base_url.substr(0, m.base_url.size() - 1);
  write_file_atomically(o.state_dir / "issuer-url", m.issuer_url, 0644);

  Directory dir = o.directory;
  resolve_defaults(dir, m.issuer_url);
  http::ClientOptions client;
  client.user_agent = "azwi-emulator/" AZWI_VERSION;
  client.ca_file = write_trust_bundle(o.state_dir, m.tls.ca_cert).string();
  client.ca_dir = std::getenv("SSL_CERT_DIR") ? std::getenv("SSL_CERT_DIR") : "";
  auto egress = http::EgressProxySettings::from_environment();
  for (const auto& p : egress.problems()) m.logger.warn("egress proxy setting ignored", {{"problem", p}});
  m.jwks = std::make_unique<JwksCache>(client, std::move(egress), m.clock, std::chrono::seconds(o.jwks_cache_ttl));
  m.entra = std::make_unique<EntraService>(std::move(dir), *m.jwks, m.entra_keys, m.clock,
                                           EntraOptions{m.base_url, o.token_lifetime, o.refresh_in, o.clock_skew});
  m.arm = std::make_unique<ArmService>(m.entra->store(), m.entra_keys, m.clock,
                                       ArmOptions{o.credential_propagation_seconds, o.clock_skew});
  m.issuer = std::make_unique<OidcIssuer>(m.issuer_url, m.issuer_keys, m.clock, o.clock_skew);
  m.control = std::make_unique<ControlContext>(
      ControlContext{m.log, m.faults, m.issuer_keys, m.entra_keys, m.clock, [&m] { return m.info(); }});
  m.faults.apply(o.faults);

  if (o.imds) {
    auto imds_endpoint = http::parse_endpoint(o.imds_listen);
    m.imds = std::make_unique<http::Server>(
        m.io, imds_endpoint,
        [&m](http::Request req, http::Responder respond) { m.handle_imds(std::move(req), std::move(respond)); });
    try {
      m.imds->start();
    } catch (const std::exception& e) {
      throw std::runtime_error("cannot listen on --imds-listen " + o.imds_listen + ": " + e.what());
    }
    m.imds_url = "http://" + url_host(imds_endpoint.address()) + ":" + std::to_string(m.imds->port()) + "/";
    if (!o.imds_ready_file.empty()) write_file_atomically(o.imds_ready_file, m.imds_url, 0644);
  }

  if (!o.token_proxy_listen.empty()) {
    auto proxy_endpoint = http::parse_endpoint(o.token_proxy_listen);
    fs::create_directories(o.state_dir / "token-proxy");
    m.token_proxy_tls = ensure_tls(o.state_dir / "token-proxy", {o.token_proxy_name}, /*loopback=*/false);
    auto proxy_tls = http::make_server_tls_context(m.token_proxy_tls.server_cert.string(),
                                                   m.token_proxy_tls.server_key.string());
    http::ServerOptions po = so;
    po.tls = [proxy_tls] { return proxy_tls; };
    m.token_proxy = std::make_unique<http::Server>(
        m.io, proxy_endpoint,
        [&m](http::Request req, http::Responder respond) { m.handle_token_proxy(std::move(req), std::move(respond)); },
        po);
    try {
      m.token_proxy->start();
    } catch (const std::exception& e) {
      throw std::runtime_error("cannot listen on --token-proxy-listen " + o.token_proxy_listen + ": " + e.what());
    }
    m.token_proxy_url =
        "https://" + url_host(proxy_endpoint.address()) + ":" + std::to_string(m.token_proxy->port()) + "/";
    if (!o.token_proxy_ready_file.empty()) write_file_atomically(o.token_proxy_ready_file, m.token_proxy_url, 0644);
  }

  m.logger.info("emulator listening",
                {{"base_url", m.base_url}, {"issuer", m.issuer_url}, {"ca_file", m.tls.ca_cert.string()},
                 {"ca_created", m.tls.ca_created}, {"server_cert_issued", m.tls.server_issued},
                 {"imds_url", m.imds_url}, {"token_proxy_url", m.token_proxy_url},
                 {"token_proxy_ca_file", m.token_proxy ? m.token_proxy_tls.ca_cert.string() : std::string()},
                 {"tenants", static_cast<std::int64_t>(m.entra->directory()->tenants.size())}});
  if (!o.ready_file.empty()) write_file_atomically(o.ready_file, m.base_url, 0644);
}

void Emulator::run() {
  Impl& m = *impl_;
  m.signals.async_wait([&m](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    m.logger.info("shutting down", {{"signal", sig}});
    auto pending = std::make_shared<int>(1 + (m.imds ? 1 : 0) + (m.token_proxy ? 1 : 0));
    auto done = [&m, pending] {
      if (--*pending == 0) m.io.stop();
    };
    m.https->shutdown(std::chrono::milliseconds(2000), done);
    if (m.imds) m.imds->shutdown(std::chrono::milliseconds(2000), done);
    if (m.token_proxy) m.token_proxy->shutdown(std::chrono::milliseconds(2000), done);
  });
  std::vector<std::thread> threads;
  for (int i = 1; i < m.options.io_threads; ++i) threads.emplace_back([&m] { m.io.run(); });
  m.io.run();
  for (auto& t : threads) t.join();
  m.workers.stop();
}

}  // namespace azwi::emulator
