#pragma once
// An HTTP/1.1 server (plain or TLS) on Boost.Beast, shared by every binary.
// A session reads one request, hands it to the handler, writes the answer the handler gives (possibly later,
// from another thread), then waits for the next request on the same connection.
// Defences: an idle connection and a half-sent request are dropped after their timeouts; the request line,
// headers and body are bounded; malformed HTTP is answered with the error response and the connection closed; a
// handler that throws gets its request answered with the error response (500, the exception's reason), a log line,
// and the server carries on.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string_view>

namespace azwi::http {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;
// Send the answer. Callable once, from any thread.
using Responder = std::function<void(Response)>;
using Handler = std::function<void(Request, Responder)>;
// Builds the answer for a request that could not be parsed, in the protocol the server speaks.
using ErrorResponder = std::function<Response(unsigned status, std::string_view message)>;
using TlsContextProvider = std::function<std::shared_ptr<boost::asio::ssl::context>()>;

struct ServerOptions {
  std::size_t header_limit = 8 * 1024;    // request line + headers
  std::size_t body_limit = 64 * 1024;
  std::chrono::milliseconds idle_timeout{60'000};    // keep-alive connection with no request started
  std::chrono::milliseconds header_timeout{5'000};   // from the first byte to the whole request (and TLS handshake)
  std::chrono::milliseconds write_timeout{10'000};
  std::size_t max_connections = 4096;     // beyond this, new connections are closed at once
  TlsContextProvider tls;                 // set: serve HTTPS; asked once per connection, so certificates can rotate
  bool reuse_port = false;                // SO_REUSEPORT: one server per thread on the same address, the kernel
                                          // spreading connections between them
  ErrorResponder error_response;          // malformed requests and handlers that threw; default: text/plain
};

class Server {
 public:
  Server(boost::asio::io_context& io, const boost::asio::ip::tcp::endpoint& endpoint, Handler handler,
         ServerOptions options = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Throws boost::system::system_error when the address cannot be bound.
  void start();
  std::uint16_t port() const;
  // Stops accepting, closes idle connections, lets in-flight requests finish; calls done once every connection
  // has closed or the grace period is over (then the rest are closed). Call on the io_context's thread.
  void shutdown(std::chrono::milliseconds grace, std::function<void()> done);
  std::size_t connection_count() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// Parses "host:port" (host may be empty: all interfaces) and resolves numeric addresses or "localhost";
// throws std::invalid_argument with a message naming the text.
boost::asio::ip::tcp::endpoint parse_endpoint(std::string_view text);

}  // namespace azwi::http
