#pragma once
// Starts a real azwi-proxy process for a test, with an in-process echo server standing in for the real IMDS.
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http/server.hpp"
#include "support/net.hpp"
#include "support/process.hpp"

namespace azwi::test {

// Plays the real IMDS for passthrough: answers 201 with a JSON echo of what it received.
class EchoImds {
 public:
  EchoImds();
  ~EchoImds();
  std::uint16_t port() const { return port_; }
  struct Seen {
    std::string method, target, body;
    std::map<std::string, std::string> headers;
  };
  std::vector<Seen> seen();

 private:
  boost::asio::io_context io_;
  std::unique_ptr<http::Server> server_;
  std::thread thread_;
  std::uint16_t port_ = 0;
  std::mutex mutex_;
  std::vector<Seen> seen_;
};

struct ProxyOptions {
  std::map<std::string, std::string> env;
  std::vector<std::string> args;
};

class ProxyProcess {
 public:
  ProxyProcess(const TempDir& dir, ProxyOptions options);
  std::uint16_t port() const { return port_; }
  std::string url(const std::string& target) const { return "http://127.0.0.1:" + std::to_string(port_) + target; }
  http::ClientResponse get_token(const std::string& query, http::HeaderList headers = {{"Metadata", "true"}});
  ChildProcess& process() { return *process_; }

 private:
  std::uint16_t port_;
  std::unique_ptr<ChildProcess> process_;
};

inline const std::string kTokenPath = "/metadata/identity/oauth2/token";
// The identity the proxy tests' emulator knows, and an SDK's query for a Key Vault token.
inline const std::string kTenant = "11111111-2222-3333-4444-555555555555";
inline const std::string kClient = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
inline const std::string kVault = "api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net";

}  // namespace azwi::test
