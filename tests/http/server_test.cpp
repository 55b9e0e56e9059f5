// The shared HTTP server's behaviour seen from a client's socket: keep-alive, answers from other threads, the idle,
// half-sent-request and write timeouts, the limits, malformed HTTP, graceful shutdown and TLS.
// The server runs in-process on loopback; every wait is bounded.
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/http/write.hpp>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "http/server.hpp"
#include "http/tls.hpp"

using namespace azwi;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using Clock = std::chrono::steady_clock;

namespace {

http::Response text(bhttp::status status, std::string body) {
  http::Response res{status, 11};
  res.set(bhttp::field::content_type, "text/plain");
  res.body() = std::move(body);
  return res;
}

// An answer with a reason phrase of its own, repeated and odd-cased fields.
http::Response custom_answer() {
  http::Response res{bhttp::status::ok, 11};
  res.reason("Fine Indeed");
  res.set(bhttp::field::content_type, "application/json; charset=utf-8");
  res.insert("Set-Cookie", "a=1");
  res.insert("Set-Cookie", "b=2");
  res.set("x-Odd-Case", "  spaced value");
  res.body() = "{\"tea\":true}";
  return res;
}

// The bytes Beast's own serializer writes for `res` as the server finishes it (version, keep-alive, payload size).
std::string beast_bytes(http::Response res, unsigned version, bool keep_alive) {
  res.version(version);
  res.keep_alive(keep_alive);
  res.prepare_payload();
  std::ostringstream out;
  out << res;
  return out.str();
}

// Echoes the method, target and body length; "/slow" answers from another thread after 100 ms, "/twice" calls the
// responder twice, "/held" keeps the responder until release() (or forever); "/throw" throws a std::exception,
// "/throw-other" an int, "/answer-then-throw" answers and then throws.
class TestServer {
 public:
  explicit TestServer(http::ServerOptions options = {}, int threads = 1)
      : io_(threads == 1 ? 1 : BOOST_ASIO_CONCURRENCY_HINT_DEFAULT) {
    server_ = std::make_unique<http::Server>(io_, http::parse_endpoint("127.0.0.1:0"),
                                             [this](http::Request req, http::Responder respond) {
                                               handle(std::move(req), std::move(respond));
                                             },
                                             std::move(options));
    server_->start();
    port_ = server_->port();
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { io_.run(); });
  }
  ~TestServer() {
    release();
    io_.stop();
    for (auto& t : threads_) t.join();
    for (auto& t : helpers_) t.join();
  }

  std::uint16_t port() const { return port_; }
  std::size_t connections() const { return server_->connection_count(); }
  int handled() const { return handled_; }
  std::size_t held() {
    std::lock_guard lock(mutex_);
    return held_.size();
  }
  void release() {
    std::vector<http::Responder> held;
    {
      std::lock_guard lock(mutex_);
      held.swap(held_);
    }
    for (auto& r : held) r(text(bhttp::status::ok, "released"));
  }
  // Calls shutdown on the I/O thread; the future is ready once done was called.
  std::future<void> shutdown(std::chrono::milliseconds grace) {
    auto done = std::make_shared<std::promise<void>>();
    auto f = done->get_future();
    asio::post(io_, [this, grace, done] { server_->shutdown(grace, [done] { done->set_value(); }); });
    return f;
  }

 private:
  void handle(http::Request req, http::Responder respond) {
    ++handled_;
    std::string target(req.target());
    std::string echo = std::string(req.method_string()) + " " + target + " " + std::to_string(req.body().size());
    if (target == "/held") {
      std::lock_guard lock(mutex_);
      held_.push_back(std::move(respond));
      return;
    }
    if (target == "/slow") {
      std::lock_guard lock(mutex_);
      helpers_.emplace_back([respond = std::move(respond), echo] {
        std::this_thread::sleep_for(100ms);
        respond(text(bhttp::status::ok, echo));
      });
      return;
    }
    if (target.starts_with("/throw?")) throw std::runtime_error("the handler broke");
    if (target == "/throw-other") throw 42;
    if (target == "/answer-then-throw") {
      respond(text(bhttp::status::ok, "answered"));
      throw std::logic_error("late");
    }
    if (target == "/custom") return respond(custom_answer());
    if (target == "/empty") return respond(http::Response{bhttp::status::no_content, 11});
    if (target == "/big") return respond(text(bhttp::status::ok, std::string(64 * 1024 * 1024, 'x')));
    if (target == "/twice") {
      respond(text(bhttp::status::ok, "first"));
      respond(text(bhttp::status::ok, "second"));
      return;
    }
    respond(text(bhttp::status::ok, echo));
  }

  asio::io_context io_;
  std::unique_ptr<http::Server> server_;
  std::uint16_t port_ = 0;
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::vector<std::thread> helpers_;
  std::vector<http::Responder> held_;
  std::atomic<int> handled_{0};
};

// A blocking loopback client with bounded reads.
class Conn {
 public:
  explicit Conn(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~Conn() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  void send(const std::string& bytes) { (void)::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL); }
  // Reads until `count` complete answers (Content-Length framed) are in, the peer closes, or timeout.
  std::vector<std::string> read_answers(std::size_t count, std::chrono::milliseconds timeout = 5s) {
    auto deadline = Clock::now() + timeout;
    std::vector<std::string> out;
    while (out.size() < count) {
      if (auto answer = take_answer()) {
        out.push_back(*answer);
        continue;
      }
      if (!read_more(deadline)) break;
    }
    return out;
  }
  // Waits for the peer to close; returns how long it took, or nullopt at timeout. Data read meanwhile is kept.
  std::optional<std::chrono::milliseconds> wait_closed(std::chrono::milliseconds timeout) {
    auto start = Clock::now();
    auto deadline = start + timeout;
    while (!closed_) {
      if (!read_more(deadline) && !closed_) return std::nullopt;
    }
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  }
  const std::string& pending() const { return buffer_; }
  bool closed() const { return closed_; }

 private:
  bool read_more(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0 || closed_) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buf[65536];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      closed_ = true;
      return false;
    }
    buffer_.append(buf, static_cast<std::size_t>(n));
    return true;
  }
  std::optional<std::string> take_answer() {
    auto end = buffer_.find("\r\n\r\n");
    if (end == std::string::npos) return std::nullopt;
    std::size_t length = 0;
    auto cl = buffer_.find("Content-Length: ");
    if (cl != std::string::npos && cl < end) length = std::stoul(buffer_.substr(cl + 16));
    if (buffer_.size() < end + 4 + length) return std::nullopt;
    std::string answer = buffer_.substr(0, end + 4 + length);
    buffer_.erase(0, end + 4 + length);
    return answer;
  }

  int fd_ = -1;
  std::string buffer_;
  bool closed_ = false;
};

std::string get(const std::string& target, const std::string& extra = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: t\r\n" + extra + "\r\n";
}

std::string body_of(const std::string& answer) { return answer.substr(answer.find("\r\n\r\n") + 4); }

}  // namespace

TEST(HttpServer, KeepAliveServesPipelinedRequestsInOrder) {
  TestServer server;
  Conn c(server.port());
  ASSERT_TRUE(c.ok());
  c.send(get("/a") + "POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello" + get("/c"));
  auto answers = c.read_answers(3);
  ASSERT_EQ(answers.size(), 3u);
  EXPECT_EQ(body_of(answers[0]), "GET /a 0");
  EXPECT_EQ(body_of(answers[1]), "POST /b 5");
  EXPECT_EQ(body_of(answers[2]), "GET /c 0");
  EXPECT_EQ(answers[0].rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << answers[0];
  EXPECT_NE(answers[0].find("Content-Type: text/plain\r\n"), std::string::npos);
  EXPECT_EQ(answers[0].find("Connection: close"), std::string::npos);
  // The connection stays open for more.
  c.send(get("/d"));
  answers = c.read_answers(1);
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(body_of(answers[0]), "GET /d 0");
}

TEST(HttpServer, AnswersAreTheBytesBeastWouldWrite) {
  TestServer server;
  Conn c(server.port());
  c.send(get("/custom") + get("/empty") + "GET /custom HTTP/1.0\r\n\r\n");
  auto answers = c.read_answers(3);
  ASSERT_EQ(answers.size(), 3u);
  EXPECT_EQ(answers[0], beast_bytes(custom_answer(), 11, true));
  EXPECT_EQ(answers[1], beast_bytes(http::Response{bhttp::status::no_content, 11}, 11, true));
  EXPECT_EQ(answers[2], beast_bytes(custom_answer(), 10, false));
  EXPECT_TRUE(c.wait_closed(2s));
}

TEST(HttpServer, RequestSentInPiecesIsServed) {
  TestServer server;
  Conn c(server.port());
  std::string req = "POST /pieces HTTP/1.1\r\nHost: t\r\nContent-Length: 3000\r\n\r\n" + std::string(3000, 'b');
  for (std::size_t i = 0; i < req.size(); i += 700) {
    c.send(req.substr(i, 700));
    std::this_thread::sleep_for(10ms);
  }
  auto answers = c.read_answers(1);
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(body_of(answers[0]), "POST /pieces 3000");
}

TEST(HttpServer, ConnectionCloseAndHttp10AreAnsweredThenClosed) {
  TestServer server;
  {
    Conn c(server.port());
    c.send(get("/x", "Connection: close\r\n"));
    auto answers = c.read_answers(1);
    ASSERT_EQ(answers.size(), 1u);
    EXPECT_NE(answers[0].find("Connection: close\r\n"), std::string::npos) << answers[0];
    EXPECT_TRUE(c.wait_closed(2s));
  }
  {
    Conn c(server.port());
    c.send("GET /old HTTP/1.0\r\n\r\n");
    auto answers = c.read_answers(1);
    ASSERT_EQ(answers.size(), 1u);
    EXPECT_EQ(answers[0].rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << answers[0];
    EXPECT_TRUE(c.wait_closed(2s));
  }
}

TEST(HttpServer, AnswerFromAnotherThreadLaterAndOnlyOnce) {
  TestServer server;
  Conn c(server.port());
  c.send(get("/slow"));
  auto answers = c.read_answers(1);
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(body_of(answers[0]), "GET /slow 0");
  c.send(get("/twice") + get("/after"));
  answers = c.read_answers(3, 1s);
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(body_of(answers[0]), "first");
  EXPECT_EQ(body_of(answers[1]), "GET /after 0");
}

TEST(HttpServer, SeveralThreadsOnOneIoContextServeManyConnections) {
  TestServer server({}, 2);
  std::vector<std::thread> clients;
  std::atomic<int> good{0};
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      Conn c(server.port());
      for (int i = 0; i < 50; ++i) {
        // Every tenth answer comes from another thread.
        std::string target = i % 10 == 5 ? "/slow" : "/t" + std::to_string(t) + "-" + std::to_string(i);
        c.send(get(target));
        auto answers = c.read_answers(1);
        if (answers.size() == 1 && body_of(answers[0]) == "GET " + target + " 0") ++good;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(good, 200);
}

TEST(HttpServer, IdleConnectionIsClosedAfterTheIdleTimeoutAndRequestsResetIt) {
  http::ServerOptions o;
  o.idle_timeout = 400ms;
  o.header_timeout = 5s;
  TestServer server(o);
  Conn idle(server.port());
  Conn busy(server.port());
  // A request every 150 ms keeps a connection open well past the idle timeout.
  for (int i = 0; i < 6; ++i) {
    busy.send(get("/keep"));
    ASSERT_EQ(busy.read_answers(1).size(), 1u) << "request " << i;
    std::this_thread::sleep_for(150ms);
  }
  EXPECT_TRUE(idle.wait_closed(1s));  // long closed by now
  EXPECT_FALSE(busy.closed());
  auto after = busy.wait_closed(3s);
  ASSERT_TRUE(after);
  EXPECT_GE(after->count(), 150);
  EXPECT_TRUE(idle.pending().empty());
}

TEST(HttpServer, HalfSentRequestIsDroppedAfterTheHeaderTimeout) {
  http::ServerOptions o;
  o.idle_timeout = 10s;
  o.header_timeout = 400ms;
  TestServer server(o);
  Conn headers(server.port());
  headers.send("GET /never HTTP/1.1\r\nHost: t\r\n");
  Conn body(server.port());
  body.send("POST /never HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
  auto a = headers.wait_closed(3s);
  auto b = body.wait_closed(3s);
  ASSERT_TRUE(a);
  ASSERT_TRUE(b);
  EXPECT_GE(a->count(), 300);
  EXPECT_TRUE(headers.pending().empty());
  EXPECT_TRUE(body.pending().empty());
  EXPECT_EQ(server.handled(), 0);
}

TEST(HttpServer, ClientThatDoesNotReadIsDroppedAfterTheWriteTimeout) {
  http::ServerOptions o;
  o.write_timeout = 300ms;
  TestServer server(o);
  Conn c(server.port());
  int small = 4096;
  ::setsockopt(c.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  c.send(get("/big"));
  auto deadline = Clock::now() + 5s;
  while (server.handled() == 0 && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
  while (server.connections() > 0 && Clock::now() < deadline) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(server.connections(), 0u);
}

TEST(HttpServer, LimitsAndMalformedRequestsGetAnErrorAnswerAndAClose) {
  http::ServerOptions o;
  o.header_limit = 1024;
  o.body_limit = 100;
  o.error_response = [](unsigned status, std::string_view message) {
    return text(static_cast<bhttp::status>(status), "custom: " + std::string(message));
  };
  TestServer server(o);
  struct Case {
    std::string bytes;
    std::string status;
    std::string says;
  };
  for (const auto& k : std::vector<Case>{
           {get("/h", "X-Big: " + std::string(2000, 'a') + "\r\n"), "431", "larger than 1024 bytes"},
           {"POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\n\r\n" + std::string(101, 'b'), "413",
            "larger than 100 bytes"},
           {"HELLO\r\n\r\n", "400", "malformed HTTP request"},
           {"GET / HTTP/1.1\r\nContent-Length: -5\r\n\r\n", "400", "malformed HTTP request"}}) {
    Conn c(server.port());
    c.send(k.bytes);
    auto answers = c.read_answers(1);
    ASSERT_EQ(answers.size(), 1u) << k.bytes.substr(0, 40);
    EXPECT_EQ(answers[0].rfind("HTTP/1.1 " + k.status, 0), 0u) << answers[0];
    EXPECT_EQ(body_of(answers[0]).rfind("custom: ", 0), 0u) << answers[0];
    EXPECT_NE(answers[0].find(k.says), std::string::npos) << answers[0];
    EXPECT_NE(answers[0].find("Connection: close"), std::string::npos) << answers[0];
    EXPECT_TRUE(c.wait_closed(2s));
  }
  EXPECT_EQ(server.handled(), 0);
  Conn fine(server.port());
  fine.send(get("/fine"));
  EXPECT_EQ(fine.read_answers(1).size(), 1u);
}

TEST(HttpServer, HandlerThatThrowsGetsItsRequestAnswered500AndTheServerGoesOn) {
  http::ServerOptions o;
  o.error_response = [](unsigned status, std::string_view message) {
    return text(static_cast<bhttp::status>(status), "custom: " + std::string(message));
  };
  TestServer server(o);
  Conn c(server.port());
  // On one kept-alive connection: each failure is answered in the server's protocol, and the next request is served.
  c.send(get("/throw?secret=s3cr3t") + get("/throw-other") + get("/answer-then-throw") + get("/after"));
  auto answers = c.read_answers(4);
  ASSERT_EQ(answers.size(), 4u);
  EXPECT_EQ(answers[0].rfind("HTTP/1.1 500", 0), 0u) << answers[0];
  EXPECT_EQ(body_of(answers[0]), "custom: internal error: the handler broke");
  EXPECT_EQ(answers[1].rfind("HTTP/1.1 500", 0), 0u) << answers[1];
  EXPECT_NE(body_of(answers[1]).find("not a std::exception"), std::string::npos) << answers[1];
  EXPECT_EQ(body_of(answers[2]), "answered");  // the answer given before the throw stands, and only it
  EXPECT_NE(answers[3].find("GET /after"), std::string::npos) << answers[3];
  EXPECT_FALSE(c.closed());
  Conn other(server.port());
  other.send(get("/fine"));
  EXPECT_EQ(other.read_answers(1).size(), 1u);
}

TEST(HttpServer, ConnectionsBeyondTheLimitAreClosedAtOnce) {
  http::ServerOptions o;
  o.max_connections = 2;
  TestServer server(o);
  Conn a(server.port()), b(server.port());
  a.send(get("/a"));
  b.send(get("/b"));
  ASSERT_EQ(a.read_answers(1).size(), 1u);
  ASSERT_EQ(b.read_answers(1).size(), 1u);
  Conn c(server.port());
  EXPECT_TRUE(c.wait_closed(2s));
  EXPECT_TRUE(c.pending().empty());
}

TEST(HttpServer, ShutdownClosesIdleConnectionsAndLetsInFlightRequestsFinish) {
  TestServer server;
  Conn idle(server.port());
  idle.send(get("/first"));
  ASSERT_EQ(idle.read_answers(1).size(), 1u);
  Conn busy(server.port());
  busy.send(get("/held"));
  auto deadline = Clock::now() + 5s;
  while (server.held() == 0 && Clock::now() < deadline) std::this_thread::sleep_for(5ms);
  ASSERT_EQ(server.held(), 1u);
  auto done = server.shutdown(5s);
  EXPECT_TRUE(idle.wait_closed(2s));
  EXPECT_EQ(done.wait_for(200ms), std::future_status::timeout);  // the held request is still in flight
  server.release();
  auto answers = busy.read_answers(1);
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(body_of(answers[0]), "released");
  EXPECT_NE(answers[0].find("Connection: close"), std::string::npos) << answers[0];
  EXPECT_TRUE(busy.wait_closed(2s));
  EXPECT_EQ(done.wait_for(2s), std::future_status::ready);
  Conn late(server.port());
  EXPECT_FALSE(late.ok());
}

TEST(HttpServer, ShutdownClosesWhatIsStillBusyWhenTheGraceRunsOut) {
  TestServer server;
  Conn busy(server.port());
  busy.send(get("/held"));
  auto deadline = Clock::now() + 5s;
  while (server.held() == 0 && Clock::now() < deadline) std::this_thread::sleep_for(5ms);
  auto start = Clock::now();
  auto done = server.shutdown(300ms);
  EXPECT_EQ(done.wait_for(3s), std::future_status::ready);
  EXPECT_GE(Clock::now() - start, 250ms);
  EXPECT_TRUE(busy.wait_closed(2s));
}

// TLS: a real handshake with OpenSSL's client on a blocking socket.
class HttpServerTls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::filesystem::temp_directory_path() / ("azwi-server-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost"
                      " -keyout " + (dir_ / "tls.key").string() + " -out " + (dir_ / "tls.crt").string() +
                      " >/dev/null 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(dir_); }

  http::ServerOptions tls_options() {
    http::ServerOptions o;
    auto ctx = http::make_server_tls_context((dir_ / "tls.crt").string(), (dir_ / "tls.key").string(),
                                             http::TlsVersion::v1_3);
    o.tls = [ctx] { return ctx; };
    return o;
  }

  struct TlsConn {
    explicit TlsConn(std::uint16_t port) : tcp(port) {
      ctx = SSL_CTX_new(TLS_client_method());
      ssl = SSL_new(ctx);
      SSL_set_fd(ssl, tcp.fd());
      timeval tv{5, 0};
      ::setsockopt(tcp.fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      handshaken = SSL_connect(ssl) == 1;
    }
    ~TlsConn() {
      SSL_free(ssl);
      SSL_CTX_free(ctx);
    }
    void send(const std::string& s) { SSL_write(ssl, s.data(), static_cast<int>(s.size())); }
    // One Content-Length framed answer, or "" on close or timeout.
    std::string read_answer() {
      for (;;) {
        auto end = in.find("\r\n\r\n");
        if (end != std::string::npos) {
          auto cl = in.find("Content-Length: ");
          std::size_t length = cl != std::string::npos && cl < end ? std::stoul(in.substr(cl + 16)) : 0;
          if (in.size() >= end + 4 + length) {
            std::string a = in.substr(0, end + 4 + length);
            in.erase(0, end + 4 + length);
            return a;
          }
        }
        char buf[16384];
        int n = SSL_read(ssl, buf, sizeof buf);
        if (n <= 0) return {};
        in.append(buf, static_cast<std::size_t>(n));
      }
    }
    Conn tcp;
    SSL_CTX* ctx = nullptr;
    SSL* ssl = nullptr;
    bool handshaken = false;
    std::string in;
  };

  static std::filesystem::path dir_;
};
std::filesystem::path HttpServerTls::dir_;

TEST_F(HttpServerTls, KeepAliveRequestsOverOneConnection) {
  TestServer server(tls_options());
  TlsConn c(server.port());
  ASSERT_TRUE(c.handshaken);
  // The first request goes out right behind the handshake's last message, as clients do.
  c.send(get("/one"));
  EXPECT_EQ(body_of(c.read_answer()), "GET /one 0");
  std::string big = "POST /two HTTP/1.1\r\nHost: t\r\nContent-Length: 40000\r\n\r\n" + std::string(40000, 'z');
  c.send(big);
  EXPECT_EQ(body_of(c.read_answer()), "POST /two 40000");
  c.send(get("/three") + get("/four"));
  EXPECT_EQ(body_of(c.read_answer()), "GET /three 0");
  EXPECT_EQ(body_of(c.read_answer()), "GET /four 0");
  c.send(get("/slow"));
  EXPECT_EQ(body_of(c.read_answer()), "GET /slow 0");
}

TEST_F(HttpServerTls, StalledHandshakeIsDroppedAfterTheHeaderTimeout) {
  auto o = tls_options();
  o.header_timeout = 400ms;
  TestServer server(o);
  Conn c(server.port());
  c.send(std::string("\x16\x03\x01\x00\x05", 5));  // the start of a ClientHello, never finished
  auto closed = c.wait_closed(3s);
  ASSERT_TRUE(closed);
  EXPECT_GE(closed->count(), 300);
}

TEST_F(HttpServerTls, PlainHttpOnTheTlsPortIsDropped) {
  TestServer server(tls_options());
  Conn c(server.port());
  c.send(get("/plain"));
  EXPECT_TRUE(c.wait_closed(3s));
  EXPECT_EQ(server.handled(), 0);
}
