// libFuzzer target: any bytes as Entra ID's answer to the token request (the status from the first byte, a
// Retry-After header from the second when odd, the body from the rest), through the exchanger's real handling. It
// must give a token or a token error, never crash, never throw; a token it accepts has a value.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

#include "common/log.hpp"
#include "identity/entra_exchanger.hpp"

using namespace azwi;

namespace {
struct OneAnswer : identity::HttpTransport {
  http::ClientResult answer;
  http::ClientResult perform(const http::ClientRequest&) override { return answer; }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string token_file = [] {
    std::string path = "/tmp/azwi-fuzz-sa-token-" + std::to_string(::getpid());
    std::ofstream(path) << "header.payload.signature\n";
    return path;
  }();
  static const bool quiet = (log::configure(log::Level::error, log::Format::json), true);
  (void)quiet;
  if (size < 2) return 0;
  static constexpr long statuses[] = {200, 200, 200, 200, 400, 401, 429, 500, 502, 503, 504, 301, 204, 0, 999, 200};
  OneAnswer transport;
  transport.answer.response.status = statuses[data[0] % 16];
  if (data[1] & 1) transport.answer.response.headers.emplace_back("retry-after", std::to_string(data[1] >> 1));
  transport.answer.response.body.assign(reinterpret_cast<const char*>(data) + 2, size - 2);
  ManualClock clock;
  identity::RetryPolicy once;
  once.max_attempts = 1;
  identity::EntraExchanger exchanger(clock, transport, {"https://login.example/", token_file, once});
  auto result = exchanger.exchange({"tenant", "client", "https://vault.azure.net/.default"});
  if (auto* token = std::get_if<identity::AccessToken>(&result)) {
    if (token->value.empty()) std::abort();
  }
  return 0;
}
