#pragma once
// Request, response and error types of the outbound HTTP clients: the project's (http/asio_client.hpp) and the tests'
// independent one (tests/support/curl_client.hpp).
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace azwi::http {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct ClientRequest {
  std::string method = "GET";
  std::string url;
  HeaderList headers;
  std::string body;
  std::chrono::milliseconds timeout{10'000};
  std::chrono::milliseconds connect_timeout{5'000};
};

struct ClientResponse {
  long status = 0;
  HeaderList headers;  // names lower-cased
  std::string body;
  std::optional<std::string> header(std::string_view lower_name) const;
};

struct ClientError {
  enum class Kind { connect, timeout, tls, other };
  Kind kind;
  std::string message;
};

struct ClientResult {
  std::optional<ClientError> error;  // set: no HTTP answer arrived
  ClientResponse response;
};

struct ClientOptions {
  std::string user_agent;
  std::string ca_file;  // PEM bundle; empty: the system default
  std::string ca_dir;
  // Optional extras for clients of APIs such as Kubernetes: a CA bundle held in memory (used instead of ca_file),
  // a client certificate and key (mutual TLS) from files or memory, and skipping server verification.
  std::string ca_pem;
  std::string client_cert_file, client_key_file;
  std::string client_cert_pem, client_key_pem;
  bool insecure_skip_verify = false;
  // The TLS server name to send and to verify the certificate against instead of the URL's host (a token proxy
  // reached by address whose certificate names a service: AZURE_KUBERNETES_SNI_NAME). Empty: the URL's host.
  std::string tls_server_name;
};

// SSL_CERT_FILE and SSL_CERT_DIR, as OpenSSL and Go programs read them.
ClientOptions client_options_from_env(std::string user_agent);

// application/x-www-form-urlencoded encoding of one value.
std::string form_encode(std::string_view value);

}  // namespace azwi::http
