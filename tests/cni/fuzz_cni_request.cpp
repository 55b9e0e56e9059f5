// libFuzzer target: any bytes as the CNI request the runtime hands the chained plugin: the first byte chooses the
// command and which variables are set, CNI_ARGS is the text before the first NUL, stdin (the configuration with its
// prevResult) the rest. Parsing never crashes; every error and every reply it renders is JSON.
#include <boost/json/parse.hpp>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "cni/spec.hpp"

using namespace azwi;

namespace {
void expect_json(const std::string& text) {
  boost::json::error_code ec;
  boost::json::parse(text, ec);
  if (ec) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  unsigned flags = data[0];
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto nul = rest.find('\0');
  std::string args(rest.substr(0, nul == std::string_view::npos ? 0 : nul));
  std::string_view stdin_text = nul == std::string_view::npos ? rest : rest.substr(nul + 1);
  static const char* commands[] = {"ADD", "DEL", "CHECK", "VERSION", "STATUS", "GC", "add", ""};
  std::string command = commands[flags & 7];
  cni::EnvLookup env = [&](const char* name) -> std::optional<std::string> {
    std::string_view n(name);
    if (n == "CNI_COMMAND") return command;
    if (n == "CNI_CONTAINERID" && (flags & 8)) return "c0ffee";
    if (n == "CNI_NETNS" && (flags & 16)) return "/var/run/netns/cni-1";
    if (n == "CNI_IFNAME" && (flags & 32)) return "eth0";
    if (n == "CNI_ARGS" && (flags & 64)) return args;
    if (n == "CNI_PATH" && (flags & 128)) return "/opt/cni/bin";
    return std::nullopt;
  };
  auto parsed = cni::parse_request(env, stdin_text);
  if (auto* error = std::get_if<cni::Error>(&parsed)) {
    expect_json(cni::error_json(*error, "1.0.0"));
    return 0;
  }
  auto& request = std::get<cni::Request>(parsed);
  expect_json(cni::version_json(request.cni_version));
  if (request.prev_result) expect_json(cni::prev_result_json(request));
  (void)request.arg("K8S_POD_NAMESPACE");
  return 0;
}
