#pragma once
// The client-assertion exchange with Entra ID: one POST to {authority}{tenant}/oauth2/v2.0/token per attempt, the
// projected service-account token read afresh each time, transient failures retried with backoff on the Clock.
#include <functional>
#include <memory>
#include <string>

#include "common/clock.hpp"
#include "common/log.hpp"
#include "http/asio_client.hpp"
#include "identity/retry.hpp"
#include "identity/token.hpp"

namespace azwi::identity {

// The HTTP exchange behind the token requests; the real one is libcurl, unit tests script the answers.
class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  virtual http::ClientResult perform(const http::ClientRequest& request) = 0;
};

class AsioTransport final : public HttpTransport {
 public:
  AsioTransport(http::ClientOptions options, http::EgressProxySettings proxy)
      : client_(std::move(options), std::move(proxy)) {}
  http::ClientResult perform(const http::ClientRequest& request) override { return client_.perform(request); }

 private:
  http::AsioClient client_;
};

struct ExchangeConfig {
  std::string authority_host;
  std::string token_file;
  RetryPolicy retry;
  std::chrono::milliseconds attempt_timeout{10'000};
  std::chrono::milliseconds connect_timeout{5'000};
  // How errors name the endpoint, and where to look when its certificate is not trusted: a custom token endpoint
  // (AZURE_KUBERNETES_TOKEN_PROXY) is not Entra ID and has its own CA settings.
  std::string endpoint_name = "Entra ID";
  std::string trust_hint = "is the authority's CA trusted? see SSL_CERT_FILE / SSL_CERT_DIR";
};

class EntraExchanger {
 public:
  EntraExchanger(Clock& clock, HttpTransport& transport, ExchangeConfig config);
  // Blocks for the whole exchange, retries included (call it on a worker thread).
  FetchResult exchange(const TokenKey& key);

 private:
  struct Attempt {
    FetchResult result;
    bool retryable = false;
    std::optional<std::chrono::milliseconds> retry_after;
    long status = 0;
  };
  Attempt attempt(const TokenKey& key, const std::string& assertion, std::chrono::milliseconds budget);

  Clock& clock_;
  HttpTransport& transport_;
  ExchangeConfig config_;
  log::Logger log_{"token-exchange"};
};

// The projected service-account token, trailing whitespace removed; or, when it cannot be had, why.
struct TokenFile {
  std::string token;
  std::string error;  // a short text naming the file and the reason; empty when `token` is usable
  bool ok() const { return error.empty(); }
};
TokenFile read_token_file(const std::string& path);

}  // namespace azwi::identity
