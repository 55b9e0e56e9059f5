#pragma once
// Forwards the IMDS requests the proxy does not answer itself (instance metadata, attested data, scheduled events...)
// to the real IMDS, with method, path, query, headers and body intact. Asynchronous, on the serving thread.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <string>

#include "common/log.hpp"
#include "http/server.hpp"

namespace azwi::proxy {

struct UpstreamEndpoint {
  std::string url;  // as configured, for messages
  boost::asio::ip::tcp::endpoint endpoint;
};

// Accepts http://host[:port][/]; the host must be an IP address or "localhost" (IMDS is 169.254.169.254).
// Throws std::invalid_argument with a message naming the flag value.
UpstreamEndpoint parse_upstream(const std::string& url);

struct PassthroughOptions {
  std::chrono::milliseconds connect_timeout{2'000};
  std::chrono::milliseconds total_timeout{15'000};
  std::size_t response_limit = 8 * 1024 * 1024;
};

class Passthrough {
 public:
  Passthrough(boost::asio::io_context& io, UpstreamEndpoint upstream, PassthroughOptions options = {});
  void forward(http::Request request, http::Responder respond);

 private:
  boost::asio::io_context& io_;
  UpstreamEndpoint upstream_;
  PassthroughOptions options_;
  log::Logger log_{"passthrough"};
};

}  // namespace azwi::proxy
