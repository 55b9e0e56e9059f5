#pragma once
// A real azwi-emulator process as the proxy's Entra ID, with helpers for its test-only control API.
#include <boost/json/value.hpp>
#include <memory>
#include <string>

#include "support/net.hpp"
#include "support/process.hpp"

namespace azwi::test {

class EmulatorProcess {
 public:
  // extra_args: added to `serve` (e.g. --refresh-in=2).
  EmulatorProcess(const TempDir& dir, std::string tenant, std::string client, std::vector<std::string> extra_args = {});
  const std::string& url() const { return url_; }  // https://127.0.0.1:PORT/
  std::string ca_file() const { return state_ + "/ca.crt"; }
  // Mints a service-account token into path; returns its content.
  std::string mint(const std::string& path, const std::string& service_account = "workload-identity-sa",
                   const std::string& ns = "default", const std::string& audience = "");
  void set_faults(const std::string& json);
  void clear_faults();
  boost::json::object stats();
  boost::json::array requests();
  void clear_requests();
  ChildProcess& process() { return *process_; }

 private:
  http::ClientResponse control(const std::string& method, const std::string& path, const std::string& body = {});
  std::string state_;
  std::string url_;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace azwi::test
