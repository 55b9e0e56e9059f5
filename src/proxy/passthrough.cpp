#include "proxy/passthrough.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/url/parse.hpp>
#include <stdexcept>

#include "imds/errors.hpp"

namespace azwi::proxy {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;

UpstreamEndpoint parse_upstream(const std::string& url) {
  auto fail = [&](const std::string& why) {
    return std::invalid_argument("--imds-endpoint \"" + url + "\": " + why);
  };
  auto u = boost::urls::parse_absolute_uri(url);
  if (!u) throw fail("not an absolute URL such as http://169.254.169.254");
  if (u->scheme() != "http") throw fail("only plain http is supported (IMDS does not speak TLS)");
  if (!u->path().empty() && u->path() != "/") throw fail("must not have a path");
  std::string host = u->host();
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  if (host == "localhost") host = "127.0.0.1";
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) throw fail("the host must be an IP address");
  unsigned port = 80;
  if (u->has_port()) {
    port = u->port_number();
    if (port == 0) throw fail("invalid port");
  }
  return {url, asio::ip::tcp::endpoint(addr, static_cast<unsigned short>(port))};
}

namespace {
constexpr bhttp::field kHopByHop[] = {bhttp::field::connection, bhttp::field::keep_alive,
                                      bhttp::field::proxy_connection, bhttp::field::te,
                                      bhttp::field::trailer, bhttp::field::transfer_encoding,
                                      bhttp::field::upgrade};

template <class Fields>
void drop_hop_by_hop(Fields& f) {
  for (auto name : kHopByHop) f.erase(name);
}

http::Response bad_gateway(unsigned status, std::string description) {
  http::Response res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::content_type, "application/json; charset=utf-8");
  res.body() = imds::render_error_body({status, status == 504 ? "gateway_timeout" : "bad_gateway",
                                        std::move(description), std::nullopt});
  return res;
}

struct Forward : std::enable_shared_from_this<Forward> {
  Forward(asio::io_context& io, const UpstreamEndpoint& up, const PassthroughOptions& opt, http::Request req,
          http::Responder respond, const log::Logger& log)
      : stream(io), upstream(up), options(opt), request(std::move(req)), respond(std::move(respond)), log(log) {}

  beast::tcp_stream stream;
  const UpstreamEndpoint& upstream;
  PassthroughOptions options;
  http::Request request;
  http::Responder respond;
  const log::Logger& log;
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;

  void start() {
    drop_hop_by_hop(request);
    request.keep_alive(false);  // one connection per forwarded request: IMDS traffic is rare
    request.prepare_payload();
    parser.body_limit(options.response_limit);
    stream.expires_after(options.connect_timeout);
    stream.async_connect(upstream.endpoint, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return self->fail(ec, "cannot connect to IMDS");
      self->stream.expires_after(self->options.total_timeout);
      bhttp::async_write(self->stream, self->request, [self](beast::error_code ec, std::size_t) {
        if (ec) return self->fail(ec, "cannot send the request to IMDS");
        bhttp::async_read(self->stream, self->buffer, self->parser, [self](beast::error_code ec, std::size_t) {
          if (ec) return self->fail(ec, "no valid answer from IMDS");
          self->finish();
        });
      });
    });
  }

  void fail(beast::error_code ec, const char* what) {
    bool timeout = ec == beast::error::timeout;
    std::string description = std::string(what) + " at " + upstream.url + ": " +
                              (timeout ? std::string("timed out") : ec.message());
    log.warn("passthrough failed", {{"method", std::string(request.method_string())},
                                    {"uri", std::string(request.target())},
                                    {"reason", description}});
    respond(bad_gateway(timeout ? 504 : 502, std::move(description)));
    close();
  }

  void finish() {
    http::Response res = parser.release();
    drop_hop_by_hop(res);
    log.debug("passthrough answered", {{"method", std::string(request.method_string())},
                                       {"uri", std::string(request.target())},
                                       {"status", res.result_int()}});
    respond(std::move(res));
    close();
  }

  void close() {
    beast::error_code ignored;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    stream.close();
  }
};
}  // namespace

Passthrough::Passthrough(asio::io_context& io, UpstreamEndpoint upstream, PassthroughOptions options)
    : io_(io), upstream_(std::move(upstream)), options_(options) {}

void Passthrough::forward(http::Request request, http::Responder respond) {
  std::make_shared<Forward>(io_, upstream_, options_, std::move(request), std::move(respond), log_)->start();
}

}  // namespace azwi::proxy
