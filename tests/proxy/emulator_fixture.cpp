#include "proxy/emulator_fixture.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace azwi::test {

EmulatorProcess::EmulatorProcess(const TempDir& dir, std::string tenant, std::string client,
                                 std::vector<std::string> extra_args)
    : state_(dir.file("emulator")) {
  std::vector<std::string> argv{AZWI_EMULATOR_BIN, "serve", "--listen=127.0.0.1:0", "--state-dir=" + state_,
                                "--ready-file=" + dir.file("emulator.url"), "--tenant-id=" + tenant,
                                "--client-id=" + client};
  for (auto& a : extra_args) argv.push_back(a);
  process_ = std::make_unique<ChildProcess>(argv, std::map<std::string, std::string>{}, dir.file("emulator.log"));
  // A bound for a failed start, not a timing: under qemu (arm64.suite) on a loaded machine a start has taken 28 s.
  auto url = wait_for_file(dir.file("emulator.url"), std::chrono::seconds(90));
  if (!url) throw std::runtime_error("emulator did not start: " + process_->output());
  url_ = *url;
  while (!url_.empty() && (url_.back() == '\n' || url_.back() == ' ')) url_.pop_back();
}

std::string EmulatorProcess::mint(const std::string& path, const std::string& service_account, const std::string& ns,
                                  const std::string& audience) {
  std::vector<std::string> argv{AZWI_EMULATOR_BIN, "mint-token", "--state-dir=" + state_, "--out=" + path,
                                "--service-account=" + service_account, "--namespace=" + ns};
  if (!audience.empty()) argv.push_back("--audience=" + audience);
  ChildProcess p(argv, {}, path + ".mint.log");
  if (p.wait_exit(std::chrono::seconds(10)) != 0) throw std::runtime_error("mint-token failed: " + p.output());
  return read_file(path);
}

http::ClientResponse EmulatorProcess::control(const std::string& method, const std::string& path,
                                              const std::string& body) {
  http::HeaderList headers;
  if (!body.empty()) headers.emplace_back("Content-Type", "application/json");
  return http_request(method, url_ + path, headers, body, ca_file());
}

void EmulatorProcess::set_faults(const std::string& json) {
  auto r = control("PUT", "_emulator/faults", json);
  if (r.status != 200 && r.status != 204) throw std::runtime_error("PUT faults: " + r.body);
}
void EmulatorProcess::clear_faults() { control("DELETE", "_emulator/faults"); }
boost::json::object EmulatorProcess::stats() { return boost::json::parse(control("GET", "_emulator/stats").body).as_object(); }
boost::json::array EmulatorProcess::requests() {
  return boost::json::parse(control("GET", "_emulator/requests").body).as_array();
}
void EmulatorProcess::clear_requests() { control("DELETE", "_emulator/requests"); }

}  // namespace azwi::test
