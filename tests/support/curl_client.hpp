#pragma once
// The tests' HTTP(S) client, on libcurl: an implementation independent of the project's own (http/asio_client.hpp),
// so that a test of a server does not share the server's HTTP code and its mistakes. No production binary links it
// (http.NoBinaryLinksLibcurl). One CurlClient per thread; it keeps connections warm.
#include "http/client_types.hpp"

namespace azwi::test {

class CurlClient {
 public:
  explicit CurlClient(http::ClientOptions options);
  ~CurlClient();
  CurlClient(const CurlClient&) = delete;
  CurlClient& operator=(const CurlClient&) = delete;
  http::ClientResult perform(const http::ClientRequest& request);

 private:
  http::ClientOptions options_;
  void* curl_;
};

}  // namespace azwi::test
