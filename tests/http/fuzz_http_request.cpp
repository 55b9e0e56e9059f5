// libFuzzer target: any bytes sent by a client to the shared HTTP server (the sidecar's, the webhook's and the
// emulator's), over a real loopback connection to a server running in this process, then the client's half-close.
// The server must answer or close, never crash and never hang: the connection ends within two seconds. The handler
// answers with the target, or throws for "/throw", so the handler guard is fuzzed too.
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <thread>

#include "common/log.hpp"
#include "http/server.hpp"

using namespace azwi;
namespace bhttp = boost::beast::http;

namespace {
struct InProcessServer {
  boost::asio::io_context io{1};
  std::unique_ptr<http::Server> server;
  std::thread thread;
  InProcessServer() {
    log::configure(log::Level::error, log::Format::json);
    http::ServerOptions o;
    o.header_limit = 8 * 1024;
    o.body_limit = 16 * 1024;
    server = std::make_unique<http::Server>(io, http::parse_endpoint("127.0.0.1:0"),
                                            [](http::Request req, http::Responder respond) {
                                              if (req.target().starts_with("/throw")) throw std::runtime_error("boom");
                                              http::Response res{bhttp::status::ok, 11};
                                              res.body() = std::string(req.target());
                                              respond(std::move(res));
                                            },
                                            o);
    server->start();
    thread = std::thread([this] { io.run(); });
  }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static InProcessServer* s = new InProcessServer;  // lives for the whole run
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(s->server->port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) std::abort();
  (void)::send(fd, data, size, MSG_NOSIGNAL);
  ::shutdown(fd, SHUT_WR);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  char buf[16384];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) std::abort();  // the server neither answered nor closed
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
  }
  ::close(fd);
  return 0;
}
