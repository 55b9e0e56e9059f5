#pragma once
// Outbound HTTP(S) on Asio and OpenSSL alone: one connection per request, an egress proxy through CONNECT, the trust
// store from SSL_CERT_FILE/SSL_CERT_DIR (OpenSSL's defaults) or the options. The sidecar uses this instead of libcurl
// because libcurl's dependency tree costs several MiB of resident memory in every pod; token exchanges are rare
// enough that connection reuse does not matter. Blocking: call it from a worker thread.
#include <memory>

#include "http/client_types.hpp"
#include "http/egress_proxy.hpp"

namespace azwi::http {

class AsioClient {
 public:
  AsioClient(ClientOptions options, EgressProxySettings proxy);
  ~AsioClient();
  AsioClient(const AsioClient&) = delete;
  AsioClient& operator=(const AsioClient&) = delete;
  // Thread-safe: every call has its own I/O context and connection.
  ClientResult perform(const ClientRequest& request);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace azwi::http
