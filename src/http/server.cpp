#include "http/server.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>

#include "http/address.hpp"

namespace azwi::http {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

namespace {
Response default_error_response(unsigned status, std::string_view message) {
  Response res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::content_type, "text/plain; charset=utf-8");
  res.body() = std::string(message) + "\n";
  return res;
}

struct SessionBase {
  virtual ~SessionBase() = default;
  virtual void begin_shutdown() = 0;  // posted onto the session's strand
  virtual void force_close() = 0;
};
}  // namespace

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
  Impl(asio::io_context& io_, const tcp::endpoint& ep, Handler h, ServerOptions o)
      : io(io_), endpoint(ep), acceptor(io_), handler(std::move(h)), options(std::move(o)), grace_timer(io_) {
    if (!options.error_response) options.error_response = default_error_response;
  }

  asio::io_context& io;
  tcp::endpoint endpoint;
  tcp::acceptor acceptor;
  Handler handler;
  ServerOptions options;
  asio::steady_timer grace_timer;

  std::mutex mutex;  // guards sessions, stopping, on_drained: sessions end on any thread
  std::map<SessionBase*, std::weak_ptr<SessionBase>> sessions;
  bool stopping = false;
  std::function<void()> on_drained;

  void accept();
  void add(const std::shared_ptr<SessionBase>& s) {
    std::lock_guard lock(mutex);
    sessions.emplace(s.get(), s);
  }
  void remove(SessionBase* s) {
    std::function<void()> done;
    {
      std::lock_guard lock(mutex);
      sessions.erase(s);
      if (stopping && sessions.empty() && on_drained) done = std::exchange(on_drained, nullptr);
    }
    if (done) asio::post(io, std::move(done));
  }
  std::vector<std::shared_ptr<SessionBase>> live_sessions() {
    std::vector<std::shared_ptr<SessionBase>> out;
    std::lock_guard lock(mutex);
    for (auto& [_, weak] : sessions)
      if (auto s = weak.lock()) out.push_back(std::move(s));
    return out;
  }
};

namespace {

template <class Stream>
class Session final : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

 public:
  Session(std::shared_ptr<Server::Impl> server, tcp::socket&& socket, std::shared_ptr<asio::ssl::context> tls)
      : server_(std::move(server)), tls_(std::move(tls)), stream_(make_stream(std::move(socket))),
        idle_timer_(stream_.get_executor()) {}

  ~Session() override { server_->remove(this); }

  void start() {
    if constexpr (kTls) {
      lowest().expires_after(server_->options.header_timeout);
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (ec) return self->close();
                                self->lowest().expires_never();
                                self->wait_for_request();
                              });
    } else {
      wait_for_request();
    }
  }

  void begin_shutdown() override {
    asio::post(stream_.get_executor(), [self = this->shared_from_this()] {
      self->closing_ = true;
      if (!self->busy_) self->close();
    });
  }

  void force_close() override {
    asio::post(stream_.get_executor(), [self = this->shared_from_this()] { self->close(); });
  }

 private:
  Stream make_stream(tcp::socket&& socket) {
    if constexpr (kTls) {
      return Stream(beast::tcp_stream(std::move(socket)), *tls_);
    } else {
      return Stream(std::move(socket));
    }
  }

  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

  // Waits for the first bytes of the next request without a parser, so an idle keep-alive connection
  // and a slow (half-sent) request get different timeouts. The wait reads through the stream, not the raw socket:
  // with TLS the request may already sit decrypted-to-be in the TLS engine (it often arrives together with the
  // handshake's last message), and then the socket never becomes readable again.
  void wait_for_request() {
    busy_ = false;
    if (closing_) return close();
    if (buffer_.size() > 0) return read_request();
    idle_timer_.expires_after(server_->options.idle_timeout);
    idle_timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (!ec) self->close();
    });
    stream_.async_read_some(buffer_.prepare(1024),
                            [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
                              self->idle_timer_.cancel();
                              if (ec || self->closed_) return self->close();
                              self->buffer_.commit(n);
                              self->read_request();
                            });
  }

  void read_request() {
    busy_ = true;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_->options.header_limit));
    parser_->body_limit(server_->options.body_limit);
    lowest().expires_after(server_->options.header_timeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == bhttp::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::operation_aborted ||
        ec == asio::error::connection_reset || ec == asio::error::eof || closed_) {
      return close();
    }
    if (ec) {
      unsigned status = 400;
      std::string message = "malformed HTTP request: " + ec.message();
      if (ec == bhttp::error::header_limit) {
        status = 431;
        message = "request line and headers are larger than " + std::to_string(server_->options.header_limit) + " bytes";
      } else if (ec == bhttp::error::body_limit) {
        status = 413;
        message = "request body is larger than " + std::to_string(server_->options.body_limit) + " bytes";
      }
      keep_alive_ = false;
      return write(server_->options.error_response(status, message));
    }
    lowest().expires_never();
    Request req = parser_->release();
    keep_alive_ = req.keep_alive();
    version_ = req.version();
    auto once = std::make_shared<std::atomic<bool>>(false);
    Responder respond = [self = this->shared_from_this(), once](Response res) {
      if (once->exchange(true)) return;
      asio::post(self->stream_.get_executor(),
                 [self, res = std::move(res)]() mutable { self->write(std::move(res)); });
    };
    server_->handler(std::move(req), std::move(respond));
  }

  void write(Response res) {
    if (closed_) return;
    auto msg = std::make_shared<Response>(std::move(res));
    msg->version(version_);
    msg->keep_alive(keep_alive_ && !closing_);
    msg->prepare_payload();
    lowest().expires_after(server_->options.write_timeout);
    bhttp::async_write(stream_, *msg,
                       [self = this->shared_from_this(), msg](beast::error_code ec, std::size_t) {
                         self->lowest().expires_never();
                         if (ec || !msg->keep_alive()) return self->close();
                         self->wait_for_request();
                       });
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    idle_timer_.cancel();
    beast::error_code ignored;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    lowest().socket().close(ignored);
  }

  std::shared_ptr<Server::Impl> server_;
  std::shared_ptr<asio::ssl::context> tls_;  // declared before stream_: the stream refers to it
  Stream stream_;
  asio::steady_timer idle_timer_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool busy_ = false;
  bool closing_ = false;
  bool closed_ = false;
};

}  // namespace

void Server::Impl::accept() {
  acceptor.async_accept(asio::make_strand(io), [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !self->acceptor.is_open()) return;
    if (ec) {
      // Out of descriptors or similar: back off briefly instead of spinning.
      auto timer = std::make_shared<asio::steady_timer>(self->io, std::chrono::milliseconds(50));
      timer->async_wait([self, timer](beast::error_code) { self->accept(); });
      return;
    }
    bool full;
    {
      std::lock_guard lock(self->mutex);
      full = self->sessions.size() >= self->options.max_connections || self->stopping;
    }
    if (full) {
      beast::error_code ignored;
      socket.close(ignored);
    } else {
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      if (self->options.tls) {
        auto ctx = self->options.tls();
        if (ctx) {
          auto s = std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(self, std::move(socket), ctx);
          self->add(s);
          s->start();
        } else {
          socket.close(ignored);  // no certificate yet: refuse rather than serve without TLS
        }
      } else {
        auto s = std::make_shared<Session<beast::tcp_stream>>(self, std::move(socket), nullptr);
        self->add(s);
        s->start();
      }
    }
    self->accept();
  });
}

Server::Server(asio::io_context& io, const tcp::endpoint& endpoint, Handler handler, ServerOptions options)
    : impl_(std::make_shared<Impl>(io, endpoint, std::move(handler), std::move(options))) {}

Server::~Server() {
  beast::error_code ignored;
  impl_->acceptor.close(ignored);
}

void Server::start() {
  auto& a = impl_->acceptor;
  a.open(impl_->endpoint.protocol());
  a.set_option(tcp::acceptor::reuse_address(true));
  if (impl_->options.reuse_port) a.set_option(asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true));
  a.bind(impl_->endpoint);
  a.listen(asio::socket_base::max_listen_connections);
  impl_->accept();
}

std::uint16_t Server::port() const { return impl_->acceptor.local_endpoint().port(); }

std::size_t Server::connection_count() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->sessions.size();
}

void Server::shutdown(std::chrono::milliseconds grace, std::function<void()> done) {
  auto impl = impl_;
  beast::error_code ignored;
  impl->acceptor.close(ignored);
  auto finished = std::make_shared<std::atomic<bool>>(false);
  auto finish = [finished, done = std::move(done)] {
    if (!finished->exchange(true) && done) done();
  };
  bool empty;
  {
    std::lock_guard lock(impl->mutex);
    impl->stopping = true;
    empty = impl->sessions.empty();
    if (!empty) impl->on_drained = finish;
  }
  if (empty) return asio::post(impl->io, finish);
  for (auto& s : impl->live_sessions()) s->begin_shutdown();
  impl->grace_timer.expires_after(grace);
  impl->grace_timer.async_wait([impl, finish](beast::error_code ec) {
    if (ec) return;
    for (auto& s : impl->live_sessions()) s->force_close();
    finish();
  });
}

tcp::endpoint parse_endpoint(std::string_view text) {
  auto hp = parse_host_port(text);
  if (!hp) throw std::invalid_argument("\"" + std::string(text) + "\" is not an address of the form host:port");
  std::string host = hp->host;
  if (host.empty()) return tcp::endpoint(tcp::v4(), hp->port);
  if (host == "localhost") host = "127.0.0.1";
  beast::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) throw std::invalid_argument("\"" + std::string(text) + "\": host must be an IP address or localhost");
  return tcp::endpoint(addr, hp->port);
}

}  // namespace azwi::http
