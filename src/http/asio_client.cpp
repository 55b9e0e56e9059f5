#include "http/asio_client.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/url/parse.hpp>
#include <algorithm>
#include <mutex>

namespace azwi::http {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

struct AsioClient::Impl {
  Impl(ClientOptions o, EgressProxySettings p) : options(std::move(o)), proxy(std::move(p)) {}
  ClientOptions options;
  EgressProxySettings proxy;
  std::once_flag tls_once;
  std::unique_ptr<asio::ssl::context> tls;
  std::string tls_error;

  asio::ssl::context* tls_context() {
    std::call_once(tls_once, [this] {
      tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
      SSL_CTX* raw = tls->native_handle();
      SSL_CTX_set_min_proto_version(raw, TLS1_2_VERSION);
      int ok = 1;
      if (!options.ca_file.empty() || !options.ca_dir.empty()) {
        ok = SSL_CTX_load_verify_locations(raw, options.ca_file.empty() ? nullptr : options.ca_file.c_str(),
                                           options.ca_dir.empty() ? nullptr : options.ca_dir.c_str());
      } else {
        ok = SSL_CTX_set_default_verify_paths(raw);
      }
      if (ok != 1) {
        char reason[256] = "unknown reason";
        ERR_error_string_n(ERR_get_error(), reason, sizeof reason);
        ERR_clear_error();
        tls_error = "cannot load the trust store (" +
                    (options.ca_file.empty() ? options.ca_dir : options.ca_file) + "): " + reason;
      }
      tls->set_verify_mode(asio::ssl::verify_peer);
    });
    return tls_error.empty() ? tls.get() : nullptr;
  }
};

namespace {

// Runs queued asynchronous work on a private io_context until it is done: blocking calls with real timeouts.
void run(asio::io_context& io) {
  io.restart();
  io.run();
}

struct Target {
  std::string scheme, host, target;
  std::uint16_t port = 0;
};

std::optional<Target> parse_target(const std::string& url) {
  auto u = boost::urls::parse_absolute_uri(url);
  if (!u || (u->scheme() != "http" && u->scheme() != "https") || u->host().empty()) return std::nullopt;
  Target t;
  t.scheme = u->scheme();
  t.host = u->host();
  if (t.host.size() > 2 && t.host.front() == '[') t.host = t.host.substr(1, t.host.size() - 2);
  t.port = u->has_port() ? u->port_number() : (t.scheme == "https" ? 443 : 80);
  t.target = std::string(u->encoded_path());
  if (t.target.empty()) t.target = "/";
  if (u->has_query()) t.target += "?" + std::string(u->encoded_query());
  return t;
}

ClientResult fail(ClientError::Kind kind, std::string message) { return {ClientError{kind, std::move(message)}, {}}; }

class Exchange {
 public:
  Exchange(AsioClient::Impl& impl, const ClientRequest& req, const Target& t)
      : impl_(impl), req_(req), t_(t), deadline_(Clock::now() + req.timeout), stream_(io_) {}

  ClientResult perform() {
    auto proxy = impl_.proxy.proxy_for(t_.scheme, t_.host, t_.port);
    std::string connect_host = proxy ? proxy->host : t_.host;
    std::uint16_t connect_port = proxy ? proxy->port : t_.port;
    std::string where = proxy ? "proxy " + connect_host + ":" + std::to_string(connect_port) : t_.host;

    tcp::resolver::results_type endpoints;
    if (auto r = resolve(connect_host, connect_port, endpoints)) return *r;
    beast::error_code ec;
    stream_.expires_after(std::min(req_.connect_timeout, left()));
    stream_.async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) { ec = e; });
    run(io_);
    if (ec) return transport_error(ec, "cannot connect to " + where);

    if (proxy && t_.scheme == "https") {
      if (auto r = tunnel(*proxy)) return *r;
    }
    if (t_.scheme == "https") {
      asio::ssl::context* ctx = impl_.tls_context();
      if (!ctx) return fail(ClientError::Kind::tls, impl_.tls_error);
      beast::ssl_stream<beast::tcp_stream> tls(std::move(stream_), *ctx);
      if (!SSL_set_tlsext_host_name(tls.native_handle(), t_.host.c_str())) {
        return fail(ClientError::Kind::tls, "cannot set the TLS server name " + t_.host);
      }
      tls.set_verify_callback(asio::ssl::host_name_verification(t_.host));
      beast::get_lowest_layer(tls).expires_after(left());
      tls.async_handshake(asio::ssl::stream_base::client, [&](beast::error_code e) { ec = e; });
      run(io_);
      if (ec) {
        if (ec == beast::error::timeout) return fail(ClientError::Kind::timeout, "TLS handshake with " + t_.host + " timed out");
        std::string reason = ec.message();
        long verify = SSL_get_verify_result(tls.native_handle());
        if (verify != X509_V_OK) reason = X509_verify_cert_error_string(verify);
        return fail(ClientError::Kind::tls, "TLS handshake with " + t_.host + " failed: " + reason);
      }
      return exchange(tls, t_.target);
    }
    // Plain http through a proxy uses the absolute form of the request target.
    return exchange(stream_, proxy ? t_.scheme + "://" + t_.host + ":" + std::to_string(t_.port) + t_.target : t_.target,
                    proxy ? proxy->authorization : "");
  }

 private:
  std::chrono::milliseconds left() const {
    auto l = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now());
    return std::max(l, std::chrono::milliseconds(1));
  }

  std::optional<ClientResult> resolve(const std::string& host, std::uint16_t port, tcp::resolver::results_type& out) {
    tcp::resolver resolver(io_);
    asio::steady_timer timer(io_, std::min(req_.connect_timeout, left()));
    beast::error_code ec;
    bool timed_out = false;
    resolver.async_resolve(host, std::to_string(port), [&](beast::error_code e, tcp::resolver::results_type r) {
      ec = e;
      out = std::move(r);
      timer.cancel();
    });
    timer.async_wait([&](beast::error_code e) {
      if (!e) {
        timed_out = true;
        resolver.cancel();
      }
    });
    run(io_);
    if (timed_out) return fail(ClientError::Kind::timeout, "resolving " + host + " timed out");
    if (ec) return fail(ClientError::Kind::connect, "cannot resolve " + host + ": " + ec.message());
    return std::nullopt;
  }

  std::optional<ClientResult> tunnel(const ProxyServer& proxy) {
    std::string authority = (t_.host.find(':') != std::string::npos ? "[" + t_.host + "]" : t_.host) + ":" +
                            std::to_string(t_.port);
    bhttp::request<bhttp::empty_body> connect{bhttp::verb::connect, authority, 11};
    connect.set(bhttp::field::host, authority);
    if (!proxy.authorization.empty()) connect.set(bhttp::field::proxy_authorization, proxy.authorization);
    beast::error_code ec;
    stream_.expires_after(left());
    bhttp::async_write(stream_, connect, [&](beast::error_code e, std::size_t) { ec = e; });
    run(io_);
    if (ec) return transport_error(ec, "cannot talk to proxy " + proxy.host);
    bhttp::response_parser<bhttp::empty_body> parser;
    parser.skip(true);  // a CONNECT answer has no body: the tunnel follows
    beast::flat_buffer buffer;
    bhttp::async_read_header(stream_, buffer, parser, [&](beast::error_code e, std::size_t) { ec = e; });
    run(io_);
    if (ec) return transport_error(ec, "no answer from proxy " + proxy.host + " to CONNECT " + authority);
    if (parser.get().result_int() != 200) {
      return fail(ClientError::Kind::connect, "proxy " + proxy.host + " refused CONNECT " + authority + ": HTTP " +
                                                  std::to_string(parser.get().result_int()));
    }
    return std::nullopt;
  }

  template <class Stream>
  ClientResult exchange(Stream& stream, const std::string& target, const std::string& proxy_authorization = "") {
    bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(req_.method), target, 11};
    if (req.method() == bhttp::verb::unknown) req.method_string(req_.method);
    bool default_port = (t_.scheme == "https" && t_.port == 443) || (t_.scheme == "http" && t_.port == 80);
    req.set(bhttp::field::host, default_port ? t_.host : t_.host + ":" + std::to_string(t_.port));
    if (!impl_.options.user_agent.empty()) req.set(bhttp::field::user_agent, impl_.options.user_agent);
    if (!proxy_authorization.empty()) req.set(bhttp::field::proxy_authorization, proxy_authorization);
    req.set(bhttp::field::connection, "close");
    for (const auto& [k, v] : req_.headers) req.set(k, v);
    req.body() = req_.body;
    req.prepare_payload();

    beast::error_code ec;
    beast::get_lowest_layer(stream).expires_after(left());
    bhttp::async_write(stream, req, [&](beast::error_code e, std::size_t) { ec = e; });
    run(io_);
    if (ec) return transport_error(ec, "cannot send the request to " + t_.host);
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(4 * 1024 * 1024);
    beast::flat_buffer buffer;
    bhttp::async_read(stream, buffer, parser, [&](beast::error_code e, std::size_t) { ec = e; });
    run(io_);
    if (ec && !(ec == asio::ssl::error::stream_truncated && parser.is_done())) {
      return transport_error(ec, "no valid answer from " + t_.host);
    }
    ClientResult result;
    auto& res = parser.get();
    result.response.status = res.result_int();
    for (const auto& f : res) {
      std::string name(f.name_string());
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
      result.response.headers.emplace_back(std::move(name), std::string(f.value()));
    }
    result.response.body = std::move(res.body());
    return result;
  }

  static ClientResult transport_error(beast::error_code ec, const std::string& what) {
    if (ec == beast::error::timeout) return fail(ClientError::Kind::timeout, what + ": timed out");
    return fail(ClientError::Kind::connect, what + ": " + ec.message());
  }

  AsioClient::Impl& impl_;
  const ClientRequest& req_;
  const Target& t_;
  Clock::time_point deadline_;
  asio::io_context io_{1};
  beast::tcp_stream stream_;
};

}  // namespace

AsioClient::AsioClient(ClientOptions options, EgressProxySettings proxy)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(proxy))) {}

AsioClient::~AsioClient() = default;

ClientResult AsioClient::perform(const ClientRequest& request) {
  auto target = parse_target(request.url);
  if (!target) return fail(ClientError::Kind::other, "not an http(s) URL: " + request.url);
  try {
    return Exchange(*impl_, request, *target).perform();
  } catch (const std::exception& e) {
    return fail(ClientError::Kind::other, std::string("request to ") + target->host + " failed: " + e.what());
  }
}

}  // namespace azwi::http
