#include "http/server.hpp"

#include <boost/asio/detail/scheduler.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_range.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/serializer.hpp>
#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>

#include "common/log.hpp"
#include "http/address.hpp"

namespace azwi::http {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

namespace {
const log::Logger& logger() {
  static const log::Logger l("http");
  return l;
}

Response default_error_response(unsigned status, std::string_view message) {
  Response res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::content_type, "text/plain; charset=utf-8");
  res.body() = std::string(message) + "\n";
  return res;
}

struct SessionBase {
  virtual ~SessionBase() = default;
  virtual void begin_shutdown() = 0;  // posted onto the session's executor
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

using SteadyClock = std::chrono::steady_clock;

// A connection: reads a request straight into the parser, hands it to the handler, writes the answer, repeats.
// Stream is the TCP socket or a TLS stream over it. Every step runs on the socket's executor: the io_context itself
// when one thread runs it (its concurrency hint is 1), else a strand of it.
template <class Stream>
class Session final : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
  static constexpr bool kTls = !std::is_same_v<Stream, tcp::socket>;
  // Room for a typical request in one read; grows for large ones up to a whole TLS record and more.
  static constexpr std::size_t kReadChunk = 4096, kMaxReadChunk = 64 * 1024;

 public:
  Session(std::shared_ptr<Server::Impl> server, tcp::socket&& socket, std::shared_ptr<asio::ssl::context> tls)
      : server_(std::move(server)), tls_(std::move(tls)), stream_(make_stream(std::move(socket))),
        timer_(stream_.get_executor()) {
    const auto& o = server_->options;
    tick_ = std::max<SteadyClock::duration>(std::min({o.idle_timeout, o.header_timeout, o.write_timeout}),
                                            std::chrono::milliseconds(1));
  }

  ~Session() override { server_->remove(this); }

  void start() {
    arm_timer(SteadyClock::now());
    if constexpr (kTls) {
      set_deadline(server_->options.header_timeout);
      stream_.async_handshake(asio::ssl::stream_base::server, [self = this->shared_from_this()](beast::error_code ec) {
        if (ec || self->closed_) return self->close();
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
      return Stream(std::move(socket), *tls_);
    } else {
      return std::move(socket);
    }
  }

  tcp::socket& socket() {
    if constexpr (kTls) {
      return stream_.next_layer();
    } else {
      return stream_;
    }
  }

  // Timeouts: one timer per connection that is always armed and fires at the latest `tick_` (the shortest timeout)
  // after it was armed, or at the deadline if that is sooner. Every deadline set is at least `tick_` away, so the
  // timer never fires late, and moving the deadline on each step of a request is a store instead of a timer
  // operation; an idle connection costs one wake-up per tick.
  void set_deadline(std::chrono::milliseconds timeout) { deadline_ = SteadyClock::now() + timeout; }
  void clear_deadline() { deadline_ = SteadyClock::time_point::max(); }

  void arm_timer(SteadyClock::time_point now) {
    timer_.expires_at(std::min(deadline_, now + tick_));
    timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec || self->closed_) return;
      auto now = SteadyClock::now();
      if (now >= self->deadline_) return self->close();
      self->arm_timer(now);
    });
  }

  // Waits for the next request. Reads go through the stream, never the raw socket: with TLS the request may
  // already sit in the TLS engine (it often arrives together with the handshake's last message), and then the
  // socket never becomes readable again.
  void wait_for_request() {
    busy_ = false;
    if (closing_) return close();
    set_deadline(server_->options.idle_timeout);
    if (buffer_.size() > 0) return parse();  // the next request came with the previous one
    read_more();
  }

  void read_more() {
    read_room_ = std::max(buffer_.capacity() - buffer_.size(), read_chunk_);
    stream_.async_read_some(buffer_.prepare(read_room_),
                            [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
                              self->on_read(ec, n);
                            });
  }

  void on_read(beast::error_code ec, std::size_t n) {
    if (closed_) return close();
    // A read that filled all the room offered is part of a large request: offer more next time.
    if (n == read_room_) read_chunk_ = std::min(read_chunk_ * 2, kMaxReadChunk);
    if (ec) {
      // The peer stopped sending in the middle of a request: answered like any other malformed request.
      if (ec == asio::error::eof && busy_) {
        beast::error_code partial;
        parser_->put_eof(partial);
        if (partial) return answer_malformed(partial);
      }
      return close();  // closed, reset, timed out or a TLS failure: nobody to answer
    }
    buffer_.commit(n);
    parse();
  }

  // Feeds what has arrived to the parser; reads more until the request is complete.
  void parse() {
    if (!busy_) {
      // The first bytes of a request: from here the whole request must arrive within the header timeout.
      busy_ = true;
      parser_.emplace();
      parser_->eager(true);
      parser_->header_limit(static_cast<std::uint32_t>(server_->options.header_limit));
      parser_->body_limit(server_->options.body_limit);
      set_deadline(server_->options.header_timeout);
    }
    while (!parser_->is_done()) {
      if (buffer_.size() == 0) return read_more();
      beast::error_code ec;
      std::size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == bhttp::error::need_more) return read_more();
      if (ec) return answer_malformed(ec);
      if (used == 0) return read_more();
    }
    on_request();
  }

  void answer_malformed(beast::error_code ec) {
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
    write(server_->options.error_response(status, message));
  }

  void on_request() {
    clear_deadline();  // the handler takes the time it needs
    Request req = parser_->release();
    keep_alive_ = req.keep_alive();
    version_ = req.version();
    auto once = std::make_shared<std::atomic<bool>>(false);
    // Answered on the I/O thread (the common case) the write starts at once; from another thread it is handed over.
    Responder respond = [self = this->shared_from_this(), once](Response res) {
      if (once->exchange(true)) return;
      asio::dispatch(self->stream_.get_executor(),
                     [self, res = std::move(res)]() mutable { self->write(std::move(res)); });
    };
    // Kept for the log line should the handler throw (the request itself is the handler's); the member's capacity
    // is reused, so this costs no allocation on a kept-alive connection.
    method_ = req.method_string();
    path_ = req.target().substr(0, req.target().find('?'));  // the query is the handler's business, not the log's
    // An exception escaping a handler would unwind through the io_context and end the process, and with it every
    // other connection: the request is answered 500 in the server's protocol instead, and the server goes on.
    try {
      server_->handler(std::move(req), std::move(respond));
    } catch (const std::exception& e) {
      handler_failed(*once, e.what());
    } catch (...) {
      handler_failed(*once, "an exception that is not a std::exception");
    }
  }

  void handler_failed(std::atomic<bool>& answered, std::string_view reason) {
    logger().error("request handler failed", {{"method", method_}, {"path", path_}, {"reason", reason}});
    if (answered.exchange(true)) return;  // it answered before it threw: that answer stands
    write(server_->options.error_response(500, "internal error: " + std::string(reason)));
  }

  void write(Response res) {
    if (closed_) return;
    res.version(version_);
    res.keep_alive(keep_alive_ && !closing_);
    res.prepare_payload();
    bool keep_alive = res.keep_alive();
    serialize(res);
    set_deadline(server_->options.write_timeout);
    asio::async_write(stream_, asio::buffer(out_),
                      [self = this->shared_from_this(), keep_alive](beast::error_code ec, std::size_t) {
                        if (ec || !keep_alive || self->closed_) return self->close();
                        self->wait_for_request();
                      });
  }

  // The answer's bytes, in one buffer the connection keeps: one send and one TLS record for a typical answer.
  // The header is written as Beast's serializer writes it (start line, the fields as stored, an empty line) without
  // its buffer-sequence machinery, which cost more than the rest of a cached proxy answer; a chunked body (never the
  // case after prepare_payload with a string body) goes through the serializer itself.
  void serialize(Response& res) {
    out_.clear();
    if (res.chunked()) {
      bhttp::serializer<false, bhttp::string_body> sr(res);
      beast::error_code ec;
      do {
        sr.next(ec, [&](beast::error_code&, const auto& buffers) {
          std::size_t n = 0;
          for (auto b : beast::buffers_range_ref(buffers)) {
            out_.append(static_cast<const char*>(b.data()), b.size());
            n += b.size();
          }
          sr.consume(n);
        });
      } while (!ec && !sr.is_done());
      return;
    }
    unsigned version = res.version(), code = res.result_int();
    const char start[] = {'H', 'T', 'T', 'P', '/', static_cast<char>('0' + version / 10), '.',
                          static_cast<char>('0' + version % 10), ' ', static_cast<char>('0' + code / 100),
                          static_cast<char>('0' + code / 10 % 10), static_cast<char>('0' + code % 10), ' '};
    out_.append(start, sizeof start);
    out_ += res.reason();
    out_ += "\r\n";
    for (const auto& field : res) {
      out_ += field.name_string();
      out_ += ": ";
      out_ += field.value();
      out_ += "\r\n";
    }
    out_ += "\r\n";
    out_ += res.body();
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    timer_.cancel();
    beast::error_code ignored;
    socket().shutdown(tcp::socket::shutdown_both, ignored);
    socket().close(ignored);
  }

  std::shared_ptr<Server::Impl> server_;
  std::shared_ptr<asio::ssl::context> tls_;  // declared before stream_: the stream refers to it
  Stream stream_;
  asio::steady_timer timer_;
  SteadyClock::duration tick_;
  SteadyClock::time_point deadline_ = SteadyClock::time_point::max();
  beast::flat_buffer buffer_;
  std::size_t read_chunk_ = kReadChunk;
  std::size_t read_room_ = 0;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::string out_;
  std::string method_, path_;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool busy_ = false;
  bool closing_ = false;
  bool closed_ = false;
};

// One thread runs the io_context (concurrency hint 1, or a hint without scheduler locking): its handlers never run
// concurrently, so connections need no strand.
bool runs_on_one_thread(asio::io_context& io) {
  int hint = asio::use_service<asio::detail::scheduler>(io).concurrency_hint();
  return hint == 1 || !BOOST_ASIO_CONCURRENCY_HINT_IS_LOCKING(SCHEDULER, hint);
}

}  // namespace

void Server::Impl::accept() {
  asio::any_io_executor executor = runs_on_one_thread(io) ? asio::any_io_executor(io.get_executor())
                                                          : asio::any_io_executor(asio::make_strand(io));
  acceptor.async_accept(executor, [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
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
          auto s = std::make_shared<Session<asio::ssl::stream<tcp::socket>>>(self, std::move(socket), ctx);
          self->add(s);
          s->start();
        } else {
          socket.close(ignored);  // no certificate yet: refuse rather than serve without TLS
        }
      } else {
        auto s = std::make_shared<Session<tcp::socket>>(self, std::move(socket), nullptr);
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
