#include "http/asio_client.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/url/parse.hpp>
#include <algorithm>
#include <array>
#include <mutex>
#include <vector>

#include "common/files.hpp"
#include "common/text.hpp"
#include "http/name_resolver.hpp"

namespace azwi::http {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {
// OpenSSL's reason for a failed context call, with its error queue cleared for the next caller.
std::string ssl_reason(const beast::error_code& ec) {
  std::string reason = ec.message();
  ERR_clear_error();
  return reason;
}
}  // namespace

struct AsioClient::Impl {
  Impl(ClientOptions o, EgressProxySettings p) : options(std::move(o)), proxy(std::move(p)) {}
  ClientOptions options;
  EgressProxySettings proxy;
  NameResolver resolver;

  // The TLS context is built from the options' files, and built again when one of them changes (the kubelet
  // rotates mounted CA bundles, cert-manager client certificates): checked at most once a second, on use. A request
  // keeps the context it started with; a new file that does not load leaves the last good context in use.
  std::shared_ptr<asio::ssl::context> tls_context(std::string& error) {
    std::lock_guard lock(tls_mutex_);
    auto now = std::chrono::steady_clock::now();
    if (now >= next_check_) {
      next_check_ = now + std::chrono::seconds(1);
      auto stamp = files_stamp();
      if (stamp != stamp_ || (!tls_ && tls_error_.empty())) {
        stamp_ = std::move(stamp);
        auto fresh = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
        SSL_CTX_set_min_proto_version(fresh->native_handle(), TLS1_2_VERSION);
        std::string why = load_trust(*fresh);
        if (why.empty()) why = load_client_identity(*fresh);
        if (why.empty()) {
          tls_ = std::move(fresh);
          tls_error_.clear();
        } else if (!tls_) {
          tls_error_ = std::move(why);
        }
      }
    }
    if (!tls_) error = tls_error_;
    return tls_;
  }

 private:
  std::mutex tls_mutex_;
  std::shared_ptr<asio::ssl::context> tls_;
  std::string tls_error_;
  using Stamps = std::array<std::optional<FileStamp>, 3>;
  Stamps stamp_;
  std::chrono::steady_clock::time_point next_check_{};

  // The files the context reads; in-memory material never changes.
  Stamps files_stamp() const {
    Stamps out;
    std::size_t i = 0;
    for (const std::string* f : {&options.ca_file, &options.client_cert_file, &options.client_key_file}) {
      if (!f->empty()) out[i] = file_stamp(*f);
      ++i;
    }
    return out;
  }

  // The server's certificate is checked against, in this order: the in-memory bundle, the CA file or directory,
  // OpenSSL's defaults (SSL_CERT_FILE, SSL_CERT_DIR). Skipping verification is for test clusters only.
  std::string load_trust(asio::ssl::context& tls) const {
    if (options.insecure_skip_verify) {
      tls.set_verify_mode(asio::ssl::verify_none);
      return {};
    }
    SSL_CTX* raw = tls.native_handle();
    if (!options.ca_pem.empty()) {
      beast::error_code ec;
      tls.add_certificate_authority(asio::buffer(options.ca_pem), ec);
      if (ec) return "cannot use the in-memory CA bundle: " + ssl_reason(ec);
    } else {
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
        return "cannot load the trust store (" + (options.ca_file.empty() ? options.ca_dir : options.ca_file) +
               "): " + reason;
      }
    }
    tls.set_verify_mode(asio::ssl::verify_peer);
    return {};
  }

  // Mutual TLS: a certificate (chain) and its key, each from memory or a file.
  std::string load_client_identity(asio::ssl::context& tls) const {
    bool has_cert = !options.client_cert_pem.empty() || !options.client_cert_file.empty();
    bool has_key = !options.client_key_pem.empty() || !options.client_key_file.empty();
    if (!has_cert && !has_key) return {};
    if (has_cert != has_key) return "a client certificate needs its key, and a client key its certificate";
    // An encrypted key is refused instead of OpenSSL asking for a pass phrase on the terminal.
    tls.set_password_callback([](std::size_t, asio::ssl::context::password_purpose) { return std::string(); });
    beast::error_code ec;
    std::string where;
    if (!options.client_cert_pem.empty()) {
      where = "in memory";
      tls.use_certificate_chain(asio::buffer(options.client_cert_pem), ec);
    } else {
      where = options.client_cert_file;
      tls.use_certificate_chain_file(options.client_cert_file, ec);
    }
    if (ec) return "cannot load the client certificate (" + where + "): " + ssl_reason(ec);
    if (!options.client_key_pem.empty()) {
      where = "in memory";
      tls.use_private_key(asio::buffer(options.client_key_pem), asio::ssl::context::pem, ec);
    } else {
      where = options.client_key_file;
      tls.use_private_key_file(options.client_key_file, asio::ssl::context::pem, ec);
    }
    if (ec && ec.category() == asio::error::get_ssl_category() &&
        ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH) {
      ERR_clear_error();
      return "the client key (" + where + ") does not belong to the client certificate";
    }
    if (ec) return "cannot load the client key (" + where + "): " + ssl_reason(ec);
    if (SSL_CTX_check_private_key(tls.native_handle()) != 1) {
      ERR_clear_error();
      return "the client key (" + where + ") does not belong to the client certificate";
    }
    return {};
  }
};

namespace {

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

ClientError error_of(ClientError::Kind kind, std::string message) { return ClientError{kind, std::move(message)}; }

ClientError transport_error(beast::error_code ec, const std::string& what) {
  if (ec == beast::error::timeout) return error_of(ClientError::Kind::timeout, what + ": timed out");
  return error_of(ClientError::Kind::connect, what + ": " + ec.message());
}

bool is_ip_literal(const std::string& host) {
  beast::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

// One request on its own connection and private io_context. Blocking steps run the io_context until their
// asynchronous work is done, so every step has a real timeout; with a stop flag, the flag is looked at every
// poll interval meanwhile, and raising it cancels what is pending.
class Exchange {
 public:
  Exchange(AsioClient::Impl& impl, const ClientRequest& req, const Target& t, const std::atomic<bool>* stop = nullptr,
           std::chrono::milliseconds poll = std::chrono::milliseconds(100))
      : impl_(impl), req_(req), t_(t), deadline_(Clock::now() + req.timeout), stop_(stop), poll_(poll), stream_(io_) {}

  ClientResult perform(std::size_t max_body) {
    if (auto e = open()) return {std::move(e), {}};
    if (tls_) return exchange(*tls_, max_body);
    return exchange(stream_, max_body);
  }

  StreamResult stream(const std::function<bool(std::string_view)>& on_body) {
    StreamResult out;
    if (auto e = open()) {
      if (stopped_) {
        out.end = StreamEnd::stop_requested;
      } else {
        out.error = std::move(e);
      }
      return out;
    }
    keep_alive();
    if (tls_) {
      stream_body(*tls_, on_body, out);
    } else {
      stream_body(stream_, on_body, out);
    }
    return out;
  }

 private:
  std::chrono::milliseconds left() const {
    auto l = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now());
    return std::max(l, std::chrono::milliseconds(1));
  }

  void run() {
    io_.restart();
    if (!stop_) {
      io_.run();
      return;
    }
    while (!io_.stopped()) {
      io_.run_for(poll_);
      if (!stopped_ && !io_.stopped() && stop_->load()) {
        stopped_ = true;
        lowest_->cancel();
      }
    }
  }

  // One asynchronous step (connect, handshake, write, read) started by `start` with a completion handler, run to its
  // end within `limit` and the request's deadline; returns its error. A raised stop flag ends it too (stopped_).
  template <class Start>
  beast::error_code await(Start&& start, std::chrono::milliseconds limit = std::chrono::milliseconds::max()) {
    beast::error_code ec;
    lowest_->expires_after(std::min(limit, left()));
    start([&ec](beast::error_code e, auto&&...) { ec = e; });
    run();
    return ec;
  }

  // The same for a step whose failure ends the request: "stopped", or a transport error saying `what` failed.
  template <class Start>
  std::optional<ClientError> step(const std::string& what, Start&& start,
                                  std::chrono::milliseconds limit = std::chrono::milliseconds::max()) {
    beast::error_code ec = await(std::forward<Start>(start), limit);
    if (stopped_) return error_of(ClientError::Kind::other, "stopped");
    if (ec) return transport_error(ec, what);
    return std::nullopt;
  }

  // Resolves, connects (to the egress proxy if one applies, then CONNECT for https) and makes the TLS handshake.
  std::optional<ClientError> open() {
    proxy_ = impl_.proxy.proxy_for(t_.scheme, t_.host, t_.port);
    std::string connect_host = proxy_ ? proxy_->host : t_.host;
    std::uint16_t connect_port = proxy_ ? proxy_->port : t_.port;
    std::string where = proxy_ ? "proxy " + connect_host + ":" + std::to_string(connect_port) : t_.host;

    std::vector<tcp::endpoint> endpoints;
    if (auto e = resolve(connect_host, connect_port, endpoints)) return e;
    if (auto e = step("cannot connect to " + where,
                      [&](auto handler) { stream_.async_connect(endpoints, std::move(handler)); },
                      req_.connect_timeout))
      return e;

    if (proxy_ && t_.scheme == "https") {
      if (auto e = tunnel(*proxy_)) return e;
    }
    if (t_.scheme != "https") return std::nullopt;
    std::string tls_error;
    tls_context_ = impl_.tls_context(tls_error);
    if (!tls_context_) return error_of(ClientError::Kind::tls, tls_error);
    tls_.emplace(std::move(stream_), *tls_context_);
    lowest_ = &beast::get_lowest_layer(*tls_);
    const std::string server_name =
        impl_.options.tls_server_name.empty() ? std::string(t_.host) : impl_.options.tls_server_name;
    // No server name for an address (RFC 6066); the certificate is then matched against its IP SANs.
    if (!is_ip_literal(server_name) && !SSL_set_tlsext_host_name(tls_->native_handle(), server_name.c_str())) {
      return error_of(ClientError::Kind::tls, "cannot set the TLS server name " + server_name);
    }
    if (!impl_.options.insecure_skip_verify)
      tls_->set_verify_callback(asio::ssl::host_name_verification(server_name));
    beast::error_code ec =
        await([&](auto handler) { tls_->async_handshake(asio::ssl::stream_base::client, std::move(handler)); });
    if (stopped_) return error_of(ClientError::Kind::other, "stopped");
    if (ec) {
      if (ec == beast::error::timeout) {
        return error_of(ClientError::Kind::timeout, "TLS handshake with " + t_.host + " timed out");
      }
      std::string reason = ec.message();
      long verify = SSL_get_verify_result(tls_->native_handle());
      if (verify != X509_V_OK) reason = X509_verify_cert_error_string(verify);
      std::string peer = server_name == t_.host ? t_.host : t_.host + " (as " + server_name + ")";
      return error_of(ClientError::Kind::tls, "TLS handshake with " + peer + " failed: " + reason);
    }
    return std::nullopt;
  }

  // A name is looked up on the client's resolver thread (http/name_resolver.hpp), within the connect timeout.
  std::optional<ClientError> resolve(const std::string& host, std::uint16_t port, std::vector<tcp::endpoint>& out) {
    beast::error_code ec;
    auto address = asio::ip::make_address(host, ec);
    if (!ec) {  // an address needs no lookup
      out.assign(1, tcp::endpoint(address, port));
      return std::nullopt;
    }
    NameLookup lookup = impl_.resolver.resolve(host, port, Clock::now() + std::min(req_.connect_timeout, left()),
                                               stop_, poll_);
    switch (lookup.end) {
      case NameLookup::End::resolved:
        out = std::move(lookup.endpoints);
        return std::nullopt;
      case NameLookup::End::stopped:
        stopped_ = true;
        return error_of(ClientError::Kind::other, "stopped");
      case NameLookup::End::timed_out:
        return error_of(ClientError::Kind::timeout, "resolving " + host + " timed out");
      case NameLookup::End::failed:
        break;
    }
    return error_of(ClientError::Kind::connect, "cannot resolve " + host + ": " + lookup.error);
  }

  std::optional<ClientError> tunnel(const ProxyServer& proxy) {
    std::string authority = (t_.host.find(':') != std::string::npos ? "[" + t_.host + "]" : t_.host) + ":" +
                            std::to_string(t_.port);
    bhttp::request<bhttp::empty_body> connect{bhttp::verb::connect, authority, 11};
    connect.set(bhttp::field::host, authority);
    if (!proxy.authorization.empty()) connect.set(bhttp::field::proxy_authorization, proxy.authorization);
    if (auto e = step("cannot talk to proxy " + proxy.host,
                      [&](auto handler) { bhttp::async_write(stream_, connect, std::move(handler)); }))
      return e;
    bhttp::response_parser<bhttp::empty_body> parser;
    parser.skip(true);  // a CONNECT answer has no body: the tunnel follows
    beast::flat_buffer buffer;
    if (auto e = step("no answer from proxy " + proxy.host + " to CONNECT " + authority,
                      [&](auto handler) { bhttp::async_read_header(stream_, buffer, parser, std::move(handler)); }))
      return e;
    if (parser.get().result_int() != 200) {
      return error_of(ClientError::Kind::connect, "proxy " + proxy.host + " refused CONNECT " + authority +
                                                      ": HTTP " + std::to_string(parser.get().result_int()));
    }
    return std::nullopt;
  }

  // A dead peer of a long, quiet transfer is noticed within minutes instead of the system's two hours.
  void keep_alive() {
    beast::error_code ec;
    auto& socket = lowest_->socket();
    socket.set_option(asio::socket_base::keep_alive(true), ec);
    int idle = 60, interval = 15, count = 4;
    ::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    ::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
    ::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
  }

  template <class Stream>
  std::optional<ClientError> write_request(Stream& stream) {
    // Plain http through a proxy uses the absolute form of the request target.
    bool absolute = proxy_ && t_.scheme == "http";
    std::string target = absolute ? t_.scheme + "://" + t_.host + ":" + std::to_string(t_.port) + t_.target : t_.target;
    bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(req_.method), target, 11};
    if (req.method() == bhttp::verb::unknown) req.method_string(req_.method);
    bool default_port = (t_.scheme == "https" && t_.port == 443) || (t_.scheme == "http" && t_.port == 80);
    req.set(bhttp::field::host, default_port ? t_.host : t_.host + ":" + std::to_string(t_.port));
    if (!impl_.options.user_agent.empty()) req.set(bhttp::field::user_agent, impl_.options.user_agent);
    if (absolute && !proxy_->authorization.empty()) req.set(bhttp::field::proxy_authorization, proxy_->authorization);
    req.set(bhttp::field::connection, "close");
    for (const auto& [k, v] : req_.headers) req.set(k, v);
    req.body() = req_.body;
    req.prepare_payload();

    return step("cannot send the request to " + t_.host,
                [&](auto handler) { bhttp::async_write(stream, req, std::move(handler)); });
  }

  template <class Fields>
  static void copy_head(const bhttp::response_header<Fields>& res, ClientResponse& out) {
    out.status = res.result_int();
    for (const auto& f : res) {
      out.headers.emplace_back(ascii::to_lower(f.name_string()), std::string(f.value()));
    }
  }

  template <class Stream>
  ClientResult exchange(Stream& stream, std::size_t max_body) {
    if (auto e = write_request(stream)) return {std::move(e), {}};
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(max_body);
    beast::flat_buffer buffer;
    beast::error_code ec = await([&](auto handler) { bhttp::async_read(stream, buffer, parser, std::move(handler)); });
    if (ec == bhttp::error::body_limit) {
      return {error_of(ClientError::Kind::other, "the answer from " + t_.host + " is larger than " +
                                                     std::to_string(max_body) + " bytes"),
              {}};
    }
    if (ec && !(ec == asio::ssl::error::stream_truncated && parser.is_done())) {
      return {transport_error(ec, "no valid answer from " + t_.host), {}};
    }
    ClientResult result;
    copy_head(parser.get().base(), result.response);
    result.response.body = std::move(parser.get().body());
    return result;
  }

  template <class Stream>
  void stream_body(Stream& stream, const std::function<bool(std::string_view)>& on_body, StreamResult& out) {
    auto finish = [&](StreamEnd end, std::optional<ClientError> error = std::nullopt) {
      out.end = stopped_ ? StreamEnd::stop_requested : end;
      if (out.end == StreamEnd::failed) out.error = std::move(error);
    };
    if (auto e = write_request(stream)) return finish(StreamEnd::failed, std::move(e));
    bhttp::response_parser<bhttp::buffer_body> parser;
    parser.body_limit(boost::none);  // the handler decides how much it takes
    beast::flat_buffer buffer;
    beast::error_code ec =
        await([&](auto handler) { bhttp::async_read_header(stream, buffer, parser, std::move(handler)); });
    if (stopped_) return finish(StreamEnd::stop_requested);
    if (ec) return finish(StreamEnd::failed, transport_error(ec, "no valid answer from " + t_.host));
    copy_head(parser.get().base(), out.response);
    bool wanted = out.response.status == 200;

    char chunk[16 * 1024];
    while (!parser.is_done()) {
      parser.get().body().data = chunk;
      parser.get().body().size = sizeof chunk;
      ec = await([&](auto handler) { bhttp::async_read_some(stream, buffer, parser, std::move(handler)); });
      std::size_t got = sizeof chunk - parser.get().body().size;
      if (ec == bhttp::error::need_buffer) ec = {};
      if (got > 0 && wanted && !stopped_) {
        if (!on_body(std::string_view(chunk, got))) return finish(StreamEnd::handler_stopped);
      } else if (got > 0 && !wanted) {
        out.response.body.append(chunk, std::min(got, kMaxStreamErrorBody - out.response.body.size()));
        if (out.response.body.size() >= kMaxStreamErrorBody) return finish(StreamEnd::complete);
      }
      if (stopped_) return finish(StreamEnd::stop_requested);
      if (ec) {
        if (ec == asio::ssl::error::stream_truncated && parser.is_done()) break;
        return finish(StreamEnd::failed, transport_error(ec, "the answer from " + t_.host + " broke off"));
      }
    }
    finish(StreamEnd::complete);
  }

  AsioClient::Impl& impl_;
  const ClientRequest& req_;
  const Target& t_;
  Clock::time_point deadline_;
  const std::atomic<bool>* stop_;
  std::chrono::milliseconds poll_;
  bool stopped_ = false;
  asio::io_context io_{1};
  beast::tcp_stream stream_;
  std::shared_ptr<asio::ssl::context> tls_context_;  // outlives tls_, which uses it
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls_;
  beast::tcp_stream* lowest_ = &stream_;
  std::optional<ProxyServer> proxy_;
};

}  // namespace

AsioClient::AsioClient(ClientOptions options, EgressProxySettings proxy)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(proxy))) {}

AsioClient::~AsioClient() = default;

ClientResult AsioClient::perform(const ClientRequest& request, std::size_t max_body) {
  auto target = parse_target(request.url);
  if (!target) return {error_of(ClientError::Kind::other, "not an http(s) URL: " + request.url), {}};
  try {
    return Exchange(*impl_, request, *target).perform(max_body);
  } catch (const std::exception& e) {
    return {error_of(ClientError::Kind::other, std::string("request to ") + target->host + " failed: " + e.what()), {}};
  }
}

StreamResult AsioClient::stream(const ClientRequest& request, const std::function<bool(std::string_view)>& on_body,
                                const std::atomic<bool>* stop, std::chrono::milliseconds poll) {
  StreamResult out;
  auto target = parse_target(request.url);
  if (!target) {
    out.error = error_of(ClientError::Kind::other, "not an http(s) URL: " + request.url);
    return out;
  }
  try {
    return Exchange(*impl_, request, *target, stop, poll).stream(on_body);
  } catch (const std::exception& e) {
    out.error = error_of(ClientError::Kind::other, std::string("request to ") + target->host + " failed: " + e.what());
    return out;
  }
}

}  // namespace azwi::http
