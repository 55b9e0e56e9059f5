#include "proxy/probe.hpp"

#include <thread>

#include "common/log.hpp"
#include "http/asio_client.hpp"
#include "proxy/config.hpp"

namespace azwi::proxy {

int run_probe(std::uint16_t port, int tries, std::chrono::milliseconds interval) {
  log::Logger log("probe");
  http::ClientOptions options;
  options.user_agent = user_agent();
  http::AsioClient client(options, http::EgressProxySettings("", "", ""));
  http::ClientRequest req;
  req.url = "http://127.0.0.1:" + std::to_string(port) + "/readyz";
  req.timeout = std::chrono::milliseconds(900);
  req.connect_timeout = std::chrono::milliseconds(500);
  std::string last;
  for (int i = 1; i <= tries; ++i) {
    auto res = client.perform(req);
    if (!res.error && res.response.status == 200) {
      log.info("proxy is ready", {{"port", port}, {"attempt", i}});
      return 0;
    }
    last = res.error ? res.error->message : "HTTP " + std::to_string(res.response.status);
    if (i < tries) std::this_thread::sleep_for(interval);
  }
  log.error("proxy did not become ready", {{"port", port}, {"tries", tries}, {"lastError", last}});
  return 1;
}

}  // namespace azwi::proxy
