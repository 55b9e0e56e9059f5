// azwi::http::AsioClient seen from real loopback servers: streamed answers (chunks handed over as they arrive, the
// handler or the stop flag ending them, the overall timeout, the start of an error body) against a scripted raw
// HTTP server, and the TLS options (in-memory CA, host names and IP SANs, skipping verification, mutual TLS)
// against the project's HTTPS server. Every wait is bounded.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include "http/asio_client.hpp"
#include "http/server.hpp"
#include "http/tls.hpp"

using namespace azwi;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

http::EgressProxySettings no_proxy() { return http::EgressProxySettings("", "", ""); }

// Accepts one connection on 127.0.0.1, reads the request head, then runs `script` with a function that writes
// raw bytes to the client. The connection closes when the script returns.
class ScriptedServer {
 public:
  using Send = std::function<void(const std::string&)>;
  explicit ScriptedServer(std::function<void(const Send&)> script) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(listener_, 4);
    socklen_t len = sizeof a;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this, script = std::move(script)] {
      timeval tv{10, 0};  // a test that fails never leaves this thread waiting for long
      ::setsockopt(listener_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0) return;
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      std::string head;
      char buf[4096];
      while (head.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        head.append(buf, static_cast<std::size_t>(n));
      }
      request_ = head;
      script([fd](const std::string& bytes) { ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL); });
      ::close(fd);
    });
  }
  ~ScriptedServer() {
    thread_.join();
    ::close(listener_);
  }
  std::string url(const std::string& path = "/watch") const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  std::string request() {
    thread_.join();
    thread_ = std::thread([] {});
    return request_;
  }

 private:
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::string request_;
};

std::string chunk(const std::string& data) {
  std::ostringstream out;
  out << std::hex << data.size() << "\r\n" << data << "\r\n";
  return out.str();
}

const std::string kChunkedHead = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";

// Waits until `done` holds or `limit` passes (the scripts use it to wait for the client's side).
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = 5s) {
  auto end = Clock::now() + limit;
  while (Clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return done();
}

TEST(AsioClientStream, HandsChunksOverAsTheyArrive) {
  std::atomic<int> received{0};
  std::atomic<bool> second_sent{false};
  ScriptedServer server([&](const ScriptedServer::Send& send) {
    send(kChunkedHead + chunk("{\"a\":"));
    eventually([&] { return received.load() > 0; });  // the client has the first piece before the rest exists
    second_sent = true;
    send(chunk("1}\n") + chunk(""));
  });
  http::AsioClient client({.user_agent = "stream-test"}, no_proxy());
  http::ClientRequest req;
  req.url = server.url("/watch?x=1");
  req.headers = {{"Authorization", "Bearer t"}};
  std::string body;
  bool first_before_second = false;
  auto r = client.stream(req, [&](std::string_view bytes) {
    if (received++ == 0) first_before_second = !second_sent.load();
    body += bytes;
    return true;
  });
  EXPECT_EQ(r.end, http::StreamEnd::complete) << (r.error ? r.error->message : "");
  EXPECT_EQ(r.response.status, 200);
  EXPECT_EQ(r.response.header("content-type"), "application/json");
  EXPECT_EQ(body, "{\"a\":1}\n");
  EXPECT_TRUE(first_before_second);
  EXPECT_TRUE(r.response.body.empty());
  auto request = server.request();
  EXPECT_EQ(request.rfind("GET /watch?x=1 HTTP/1.1\r\n", 0), 0u) << request;
  EXPECT_NE(request.find("Authorization: Bearer t\r\n"), std::string::npos) << request;
  EXPECT_NE(request.find("User-Agent: stream-test\r\n"), std::string::npos) << request;
}

TEST(AsioClientStream, BodyUntilTheServerCloses) {
  ScriptedServer server([](const ScriptedServer::Send& send) {
    send("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nline one\n");
    std::this_thread::sleep_for(50ms);
    send("line two\n");
  });
  http::AsioClient client({}, no_proxy());
  std::string body;
  auto r = client.stream({.url = server.url()}, [&](std::string_view b) {
    body += b;
    return true;
  });
  EXPECT_EQ(r.end, http::StreamEnd::complete) << (r.error ? r.error->message : "");
  EXPECT_EQ(body, "line one\nline two\n");
}

TEST(AsioClientStream, TheHandlerEndsTheTransfer) {
  std::atomic<bool> client_done{false};
  ScriptedServer server([&](const ScriptedServer::Send& send) {
    send(kChunkedHead + chunk("enough\n"));
    eventually([&] { return client_done.load(); });  // would go on for 5 s
  });
  http::AsioClient client({}, no_proxy());
  auto start = Clock::now();
  auto r = client.stream({.url = server.url()}, [](std::string_view) { return false; });
  client_done = true;
  EXPECT_EQ(r.end, http::StreamEnd::handler_stopped);
  EXPECT_LT(Clock::now() - start, 2s);
}

TEST(AsioClientStream, StopFlagEndsAQuietTransferPromptly) {
  for (bool after_head : {true, false}) {
    std::atomic<bool> client_done{false};
    ScriptedServer server([&](const ScriptedServer::Send& send) {
      if (after_head) send(kChunkedHead);
      eventually([&] { return client_done.load(); });
    });
    http::AsioClient client({}, no_proxy());
    std::atomic<bool> stop{false};
    Clock::time_point raised;
    std::thread raiser([&] {
      std::this_thread::sleep_for(300ms);
      raised = Clock::now();
      stop = true;
    });
    http::ClientRequest req{.url = server.url(), .timeout = 30s};
    auto r = client.stream(req, [](std::string_view) { return true; }, &stop);
    auto ended = Clock::now();
    raiser.join();
    client_done = true;
    EXPECT_EQ(r.end, http::StreamEnd::stop_requested) << after_head;
    EXPECT_FALSE(r.error);
    EXPECT_EQ(r.response.status, after_head ? 200 : 0);
    EXPECT_LT(ended - raised, 1s) << "the flag is looked at every 100 ms";
  }
}

TEST(AsioClientStream, OverallTimeout) {
  std::atomic<bool> client_done{false};
  ScriptedServer server([&](const ScriptedServer::Send& send) {
    send(kChunkedHead + chunk("x"));
    eventually([&] { return client_done.load(); });
  });
  http::AsioClient client({}, no_proxy());
  auto start = Clock::now();
  std::string body;
  auto r = client.stream({.url = server.url(), .timeout = 400ms}, [&](std::string_view b) {
    body += b;
    return true;
  });
  auto took = Clock::now() - start;
  client_done = true;
  EXPECT_EQ(r.end, http::StreamEnd::failed);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->kind, http::ClientError::Kind::timeout) << r.error->message;
  EXPECT_EQ(body, "x");
  EXPECT_GE(took, 350ms);
  EXPECT_LT(took, 2s);
}

TEST(AsioClientStream, AnErrorAnswerKeepsTheStartOfItsBody) {
  std::string long_body(20'000, 'e');
  ScriptedServer server([&](const ScriptedServer::Send& send) {
    send("HTTP/1.1 403 Forbidden\r\nContent-Length: " + std::to_string(long_body.size()) + "\r\n\r\n" + long_body);
  });
  http::AsioClient client({}, no_proxy());
  bool handed_over = false;
  auto r = client.stream({.url = server.url()}, [&](std::string_view) { return handed_over = true; });
  EXPECT_EQ(r.end, http::StreamEnd::complete);
  EXPECT_EQ(r.response.status, 403);
  EXPECT_EQ(r.response.body, long_body.substr(0, http::kMaxStreamErrorBody));
  EXPECT_FALSE(handed_over);
}

TEST(AsioClientStream, ConnectionRefusedIsAnError) {
  // A bound port that does not listen: the connection is refused.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  http::AsioClient client({}, no_proxy());
  auto r = client.stream({.url = "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/"},
                         [](std::string_view) { return true; });
  ::close(fd);
  EXPECT_EQ(r.end, http::StreamEnd::failed);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->kind, http::ClientError::Kind::connect);
  EXPECT_NE(r.error->message.find("cannot connect to 127.0.0.1"), std::string::npos) << r.error->message;
}

TEST(AsioClient, AnAnswerLargerThanTheLimitIsNamedAsSuch) {
  ScriptedServer server([](const ScriptedServer::Send& send) {
    send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + std::string(100, 'x'));
  });
  http::AsioClient client({}, no_proxy());
  auto r = client.perform({.url = server.url("/big"), .timeout = 5s}, 10);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->kind, http::ClientError::Kind::other) << "the server did answer";
  EXPECT_NE(r.error->message.find("larger than 10 bytes"), std::string::npos) << r.error->message;
}

// A name whose lookup hangs: in private mount and network namespaces, /etc/resolv.conf names a server on loopback
// that reads queries and never answers, so each lookup lasts the resolver's own 3 s timeout. Lookups must not outlive
// the request's timeout or stop flag. Runs in a child process (namespaces are per process); needs root.
int with_silent_dns(const std::function<int()>& body) {
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::unshare(CLONE_NEWNS | CLONE_NEWNET) != 0) ::_exit(77);
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) ::_exit(77);
    if (std::system("ip link set lo up") != 0) ::_exit(77);
    std::string conf = "/tmp/azwi-silent-dns-" + std::to_string(::getpid());
    { std::ofstream(conf) << "nameserver 127.0.0.1\noptions timeout:3 attempts:1\n"; }
    if (::mount(conf.c_str(), "/etc/resolv.conf", nullptr, MS_BIND, nullptr) != 0) ::_exit(77);
    int udp = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(53);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(udp, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) ::_exit(77);
    int code = body();
    ::unlink(conf.c_str());
    ::_exit(code);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 99;
}

TEST(AsioClient, AHangingNameLookupEndsWithTheTimeoutAndTheStopFlag) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root for mount and network namespaces";
  int code = with_silent_dns([] {
    http::AsioClient client({}, no_proxy());
    auto start = Clock::now();
    auto r = client.perform({.url = "https://api.blackhole.test/version", .timeout = 2s, .connect_timeout = 500ms});
    auto took = Clock::now() - start;
    if (!r.error || r.error->kind != http::ClientError::Kind::timeout) return 1;
    if (r.error->message.find("resolving api.blackhole.test timed out") == std::string::npos) return 2;
    if (took > 1500ms) return 3;
    std::atomic<bool> stop{false};
    std::thread raiser([&] {
      std::this_thread::sleep_for(200ms);
      stop = true;
    });
    start = Clock::now();
    auto s = client.stream({.url = "https://api.blackhole.test/watch", .timeout = 30s, .connect_timeout = 20s},
                           [](std::string_view) { return true; }, &stop);
    took = Clock::now() - start;
    raiser.join();
    if (s.end != http::StreamEnd::stop_requested) return 4;
    if (took > 1000ms) return 5;
    return 0;
  });
  if (code == 77) GTEST_SKIP() << "namespaces are not available here";
  EXPECT_EQ(code, 0) << "1: no timeout error, 2: wrong message, 3: perform outlived its timeout, "
                        "4: the stream did not end as stopped, 5: the stream outlived its stop flag";
}

int thread_count() {
  return static_cast<int>(std::distance(std::filesystem::directory_iterator("/proc/self/task"),
                                        std::filesystem::directory_iterator()));
}

// The count once it is back to `n`, or after 2 s: a joined thread's task entry can outlast the join for a moment (the
// kernel wakes the joiner before it has reaped the thread; under qemu-user the gap is long enough to be seen).
int thread_count_settled(int n) {
  auto until = std::chrono::steady_clock::now() + 2s;
  int now = thread_count();
  while (now != n && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(10ms);
    now = thread_count();
  }
  return now;
}

TEST(AsioClient, ConcurrentHangingLookupsShareOneThreadAndEachEndsByItsDeadline) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root for mount and network namespaces";
  int code = with_silent_dns([] {
    const int before = thread_count();
    auto client = std::make_unique<http::AsioClient>(http::ClientOptions{}, no_proxy());
    constexpr int kCallers = 12;
    std::atomic<int> timed_out{0}, late{0};
    std::vector<std::thread> callers;
    for (int i = 0; i < kCallers; ++i) {
      callers.emplace_back([&, i] {
        auto start = Clock::now();
        auto r = client->perform({.url = "https://api" + std::to_string(i) + ".blackhole.test/",
                                  .timeout = 2s, .connect_timeout = 800ms});
        if (Clock::now() - start > 1300ms) ++late;
        if (r.error && r.error->kind == http::ClientError::Kind::timeout &&
            r.error->message.find("resolving api" + std::to_string(i) + ".blackhole.test timed out") !=
                std::string::npos)
          ++timed_out;
      });
    }
    std::this_thread::sleep_for(400ms);  // every caller is waiting for its lookup now
    const int during = thread_count();
    for (auto& t : callers) t.join();
    if (during > before + kCallers + 1) return 1;
    if (timed_out != kCallers) return 2;
    if (late != 0) return 3;
    // Destruction waits for the lookup in progress, no longer than the resolver's own timeout.
    auto start = Clock::now();
    client.reset();
    if (Clock::now() - start > 3500ms) return 4;
    if (thread_count_settled(before) != before) return 5;
    return 0;
  });
  if (code == 77) GTEST_SKIP() << "namespaces are not available here";
  EXPECT_EQ(code, 0) << "1: more than one lookup thread, 2: not every lookup timed out, 3: a lookup outlived its "
                        "deadline, 4: destruction outlived the resolver's timeout, 5: the lookup thread outlived "
                        "its client";
}

TEST(AsioClient, ManyLookupsUseOneThreadThatEndsWithItsClient) {
  // localhost comes from /etc/hosts: many lookups, one thread, gone with its client.
  const int before = thread_count();
  {
    http::AsioClient client({}, no_proxy());
    for (int i = 0; i < 20; ++i) {
      ScriptedServer server([](const ScriptedServer::Send& send) {
        send("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n");
      });
      std::string url = server.url("/");
      url.replace(url.find("127.0.0.1"), 9, "localhost");
      auto r = client.perform({.url = url, .timeout = 5s});
      ASSERT_FALSE(r.error) << r.error->message;
      EXPECT_EQ(r.response.status, 204);
      EXPECT_LE(thread_count(), before + 2) << "the server's thread and the client's resolver";
    }
  }
  EXPECT_EQ(thread_count_settled(before), before);
}

// ------------------------------------------------------------------------------------------------- TLS options

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class AsioClientTls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::filesystem::temp_directory_path() / ("azwi-asio-client-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    // A CA, a server certificate for the address 127.0.0.1 only, and a client certificate.
    std::string d = dir_.string();
    std::string cmd =
        "cd " + d + " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1"
        " -subj /CN=test-ca -keyout ca.key -out ca.crt"
        " && printf 'subjectAltName=IP:127.0.0.1\\n' > server.ext"
        " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=server -keyout server.key"
        " -out server.csr && openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1"
        " -extfile server.ext -out server.crt"
        " && printf 'extendedKeyUsage=clientAuth\\n' > client.ext"
        " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=client -keyout client.key"
        " -out client.csr && openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1"
        " -extfile client.ext -out client.crt";
    ASSERT_EQ(std::system(("(" + cmd + ") >/dev/null 2>&1").c_str()), 0);
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(dir_); }
  static std::string file(const std::string& name) { return (dir_ / name).string(); }

  void start(bool require_client_cert) {
    auto ctx = http::make_server_tls_context(file("server.crt"), file("server.key"));
    if (require_client_cert) {
      SSL_CTX_load_verify_locations(ctx->native_handle(), file("ca.crt").c_str(), nullptr);
      SSL_CTX_set_verify(ctx->native_handle(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    }
    http::ServerOptions o;
    o.tls = [ctx] { return ctx; };
    server_ = std::make_unique<http::Server>(
        io_, http::parse_endpoint("127.0.0.1:0"),
        [](http::Request, http::Responder respond) {
          http::Response res{boost::beast::http::status::ok, 11};
          res.body() = "hello";
          respond(std::move(res));
        },
        std::move(o));
    server_->start();
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }
  http::ClientResult get(const http::ClientOptions& o, const std::string& host = "127.0.0.1") {
    http::AsioClient client(o, no_proxy());
    return client.perform({.url = "https://" + host + ":" + std::to_string(server_->port()) + "/", .timeout = 5s});
  }
  static std::string message(const http::ClientResult& r) { return r.error ? r.error->message : "no error"; }

  static std::filesystem::path dir_;
  boost::asio::io_context io_{1};
  std::unique_ptr<http::Server> server_;
  std::thread thread_;
};
std::filesystem::path AsioClientTls::dir_;

TEST_F(AsioClientTls, InMemoryCaAndTheAddressInTheCertificate) {
  start(false);
  auto r = get({.ca_pem = read_file(file("ca.crt"))});
  ASSERT_FALSE(r.error) << message(r);
  EXPECT_EQ(r.response.body, "hello");
  // The in-memory bundle wins over a file that would not do.
  r = get({.ca_file = file("client.crt"), .ca_pem = read_file(file("ca.crt"))});
  EXPECT_FALSE(r.error) << message(r);
  // The certificate names 127.0.0.1 only: "localhost" is the same server under a name it does not carry.
  r = get({.ca_pem = read_file(file("ca.crt"))}, "localhost");
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->kind, http::ClientError::Kind::tls) << message(r);
  // An unknown CA.
  r = get({.ca_pem = read_file(file("client.crt"))});
  ASSERT_TRUE(r.error);
  EXPECT_NE(r.error->message.find("unable to get local issuer certificate"), std::string::npos) << message(r);
}

TEST_F(AsioClientTls, SkippingVerificationAcceptsAnyCertificate) {
  start(false);
  auto r = get({.insecure_skip_verify = true}, "localhost");
  ASSERT_FALSE(r.error) << message(r);
  EXPECT_EQ(r.response.status, 200);
}

TEST_F(AsioClientTls, MutualTlsFromFilesAndMemory) {
  start(true);
  auto ca = read_file(file("ca.crt"));
  auto r = get({.ca_pem = ca});
  EXPECT_TRUE(r.error) << "the server requires a client certificate";
  r = get({.ca_pem = ca, .client_cert_file = file("client.crt"), .client_key_file = file("client.key")});
  EXPECT_FALSE(r.error) << message(r);
  r = get({.ca_pem = ca, .client_cert_pem = read_file(file("client.crt")), .client_key_pem = read_file(file("client.key"))});
  EXPECT_FALSE(r.error) << message(r);
  // Misconfigurations are named before any connection.
  r = get({.ca_pem = ca, .client_cert_file = file("client.crt")});
  ASSERT_TRUE(r.error);
  EXPECT_NE(r.error->message.find("needs its key"), std::string::npos) << message(r);
  r = get({.ca_pem = ca, .client_cert_file = file("client.crt"), .client_key_file = file("server.key")});
  ASSERT_TRUE(r.error);
  EXPECT_NE(r.error->message.find("does not belong to the client certificate"), std::string::npos) << message(r);
  r = get({.ca_pem = ca, .client_cert_file = file("missing.crt"), .client_key_file = file("client.key")});
  ASSERT_TRUE(r.error);
  EXPECT_NE(r.error->message.find("cannot load the client certificate (" + file("missing.crt") + ")"),
            std::string::npos)
      << message(r);
}

TEST_F(AsioClientTls, ReloadsACaFileThatChanges) {
  start(false);
  // The kubelet replaces a mounted CA bundle in place; a long-lived client must trust the new one.
  std::string ca = file("rotating-ca.crt");
  std::filesystem::copy_file(file("client.crt"), ca, std::filesystem::copy_options::overwrite_existing);
  http::AsioClient client({.ca_file = ca}, no_proxy());
  auto fetch = [&] {
    return client.perform({.url = "https://127.0.0.1:" + std::to_string(server_->port()) + "/", .timeout = 5s});
  };
  auto r = fetch();
  ASSERT_TRUE(r.error) << "the bundle does not hold the server's CA yet";
  std::filesystem::copy_file(file("ca.crt"), ca, std::filesystem::copy_options::overwrite_existing);
  // Files are looked at no more than once a second.
  auto deadline = Clock::now() + 5s;
  do {
    std::this_thread::sleep_for(200ms);
    r = fetch();
  } while (r.error && Clock::now() < deadline);
  ASSERT_FALSE(r.error) << message(r);
  EXPECT_EQ(r.response.body, "hello");
  // A broken replacement leaves the last good bundle in use.
  { std::ofstream(ca) << "not a certificate\n"; }
  std::this_thread::sleep_for(1200ms);
  r = fetch();
  EXPECT_FALSE(r.error) << message(r);
}

}  // namespace
