#pragma once
// Outbound HTTP(S) on Asio and OpenSSL alone: one connection per request, an egress proxy through CONNECT, the trust
// store from SSL_CERT_FILE/SSL_CERT_DIR (OpenSSL's defaults) or the options (CA file or in-memory bundle, client
// certificate for mutual TLS, no verification when asked). Every binary uses this, not libcurl, whose dependency tree
// costs several MiB of resident memory in every process; their requests are rare enough that connection reuse does
// not matter. Names are looked up on one thread per client (http/name_resolver.hpp), joined when the client goes.
// Blocking: call it from a worker thread.
#include <atomic>
#include <functional>
#include <memory>
#include <string_view>

#include "http/client_types.hpp"
#include "http/egress_proxy.hpp"

namespace azwi::http {

// How a streamed answer ended.
enum class StreamEnd {
  complete,         // the server ended the body (or closed the connection after it)
  handler_stopped,  // the body handler returned false
  stop_requested,   // the caller's stop flag was raised
  failed,           // no answer, or the transfer broke off: `error` says why
};

struct StreamResult {
  StreamEnd end = StreamEnd::failed;
  std::optional<ClientError> error;
  // Status and headers once they arrived. The body only for answers other than 200 (their first
  // kMaxStreamErrorBody bytes, for the error message); a 200's body goes to the handler.
  ClientResponse response;
};

inline constexpr std::size_t kMaxStreamErrorBody = 4096;

class AsioClient {
 public:
  AsioClient(ClientOptions options, EgressProxySettings proxy);
  ~AsioClient();
  AsioClient(const AsioClient&) = delete;
  AsioClient& operator=(const AsioClient&) = delete;
  // Thread-safe: every call has its own I/O context and connection. Answers with bodies larger than
  // `max_body` are errors.
  ClientResult perform(const ClientRequest& request, std::size_t max_body = 4 * 1024 * 1024);

  // A long request whose body is handed over as it arrives (a Kubernetes watch): `on_body` gets the decoded body
  // bytes of a 200 answer (chunked transfer undone) and returns false to end the transfer. Ends also when `stop`
  // is raised (checked every `poll`, whatever the server sends), or at request.timeout for the whole exchange.
  StreamResult stream(const ClientRequest& request, const std::function<bool(std::string_view)>& on_body,
                      const std::atomic<bool>* stop = nullptr,
                      std::chrono::milliseconds poll = std::chrono::milliseconds(100));

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace azwi::http
