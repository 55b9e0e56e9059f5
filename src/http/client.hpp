#pragma once
// Outbound HTTP(S) through libcurl: honours HTTPS_PROXY/HTTP_PROXY/NO_PROXY like other programs in a pod,
// and a custom trust store through SSL_CERT_FILE/SSL_CERT_DIR. One Client per thread; it keeps connections warm.
#include "http/client_types.hpp"

namespace azwi::http {

class Client {
 public:
  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ClientResult perform(const ClientRequest& request);

 private:
  ClientOptions options_;
  void* curl_;
};

}  // namespace azwi::http
