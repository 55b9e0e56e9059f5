#pragma once
// `azwi-emulator serve`: one HTTPS server playing the cluster OIDC issuer and Entra ID, plus the test-only control
// API and, optionally, a plain-HTTP IMDS instance responder on a second listener.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "emulator/config.hpp"
#include "emulator/faults.hpp"

namespace azwi::emulator {

struct ServeOptions {
  std::string listen = "127.0.0.1:0";
  // The emulator issues tokens to anyone who asks and has a control API that changes its keys and faults: it listens
  // beyond loopback (--listen, --imds-listen, --token-proxy-listen) only when told (--allow-remote), e.g. in a test's
  // own network namespace.
  bool allow_remote = false;
  std::filesystem::path state_dir;
  std::filesystem::path ready_file;     // gets the base URL (atomically) once listening
  std::string public_url;               // overrides the base URL derived from the listen address
  std::vector<std::string> sans;        // extra serving-certificate names
  Directory directory;                  // identities; empty issuers mean "this emulator's issuer"
  std::int64_t token_lifetime = 3600;
  std::int64_t refresh_in = 0;
  std::int64_t clock_skew = 300;
  std::int64_t jwks_cache_ttl = 300;
  std::int64_t credential_propagation_seconds = 0;  // before Entra uses a credential created through ARM
  bool imds = false;
  std::string imds_listen = "127.0.0.1:0";
  std::filesystem::path imds_ready_file;  // gets the IMDS base URL once listening
  // A custom token endpoint (AKS identity bindings) on a listener of its own: its own CA (state_dir/token-proxy/)
  // and a serving certificate for token_proxy_name only, not for its address, so that only a client sending that
  // server name (AZURE_KUBERNETES_SNI_NAME) and trusting that CA gets through; it forwards the exchange to the Entra
  // role. Empty listen address: none.
  std::string token_proxy_listen;
  std::string token_proxy_name = "token-proxy.azwi.test";
  std::string token_proxy_path = "/";  // the path of the token proxy's URL, taken off before the Entra role ("base",
                                       // "/base/" and "/base" are the same path)
  std::filesystem::path token_proxy_ready_file;  // gets the token proxy's base URL once listening
  FaultSettings faults;
  std::size_t request_log_size = 1000;
  int io_threads = 2;
  int worker_threads = 4;
};

class Emulator {
 public:
  Emulator(ServeOptions options, Clock& clock);
  ~Emulator();
  // Creates or reuses the state (CA, serving certificate, signing keys), binds the listeners and writes the ready
  // files. Throws std::exception with a message for the user.
  void start();
  // Serves until SIGINT or SIGTERM, then drains connections.
  void run();
  std::string base_url() const;
  std::string issuer_url() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace azwi::emulator
