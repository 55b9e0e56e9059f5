#include "cni/spec.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>

namespace azwi::cni {
namespace json = boost::json;

const std::vector<std::string>& supported_versions() {
  static const std::vector<std::string> versions{"1.1.0", "1.0.0", "0.4.0", "0.3.1", "0.3.0"};
  return versions;
}

bool is_supported_version(std::string_view version) {
  const auto& v = supported_versions();
  return std::find(v.begin(), v.end(), version) != v.end();
}

std::string Request::arg(const std::string& key) const {
  auto it = args.find(key);
  return it == args.end() ? std::string() : it->second;
}

namespace {

std::optional<Command> parse_command(std::string_view s) {
  if (s == "ADD") return Command::add;
  if (s == "DEL") return Command::del;
  if (s == "CHECK") return Command::check;
  if (s == "VERSION") return Command::version;
  if (s == "STATUS") return Command::status;
  if (s == "GC") return Command::gc;
  return std::nullopt;
}

// "K=V;K=V" as the kubelet (through the runtime) sets it; empty parts are allowed, a part without '=' is not.
std::optional<std::map<std::string, std::string>> parse_args(std::string_view text) {
  std::map<std::string, std::string> out;
  while (!text.empty()) {
    auto semi = text.find(';');
    std::string_view part = text.substr(0, semi);
    text = semi == std::string_view::npos ? std::string_view() : text.substr(semi + 1);
    if (part.empty()) continue;
    auto eq = part.find('=');
    if (eq == std::string_view::npos || eq == 0) return std::nullopt;
    out[std::string(part.substr(0, eq))] = std::string(part.substr(eq + 1));
  }
  return out;
}

Error env_error(std::string msg) { return {kInvalidEnvironment, std::move(msg), ""}; }

}  // namespace

std::variant<Request, Error> parse_request(const EnvLookup& env, std::string_view stdin_text) {
  Request r;
  auto command_text = env("CNI_COMMAND");
  if (!command_text) return env_error("CNI_COMMAND is not set (ADD, DEL, CHECK, VERSION, STATUS or GC)");
  auto command = parse_command(*command_text);
  if (!command) return env_error("CNI_COMMAND=\"" + *command_text + "\" is not a CNI command (ADD, DEL, CHECK, VERSION, STATUS or GC)");
  r.command = *command;

  json::error_code ec;
  json::value config = json::parse(stdin_text, ec);
  if (ec || !config.is_object()) {
    if (r.command == Command::version && stdin_text.find_first_not_of(" \t\r\n") == std::string_view::npos) {
      return r;  // a bare VERSION (an old runtime, a person) sends no configuration
    }
    return Error{kDecodeFailure, "the network configuration on stdin is not a JSON object",
                 ec ? ec.message() : "found a JSON " + std::string(config.is_array() ? "array" : "scalar")};
  }
  r.config = std::move(config.get_object());
  const json::value* version = r.config.if_contains("cniVersion");
  if (!version || !version->is_string())
    return Error{kInvalidNetworkConfig, "the network configuration has no cniVersion string", ""};
  r.cni_version = std::string(version->get_string());
  if (r.command == Command::version) return r;  // answered whatever the version: it lists what is spoken
  if (!is_supported_version(r.cni_version)) {
    std::string spoken;
    for (const auto& v : supported_versions()) spoken += (spoken.empty() ? "" : ", ") + v;
    return Error{kIncompatibleVersion, "azwi-cni does not speak cniVersion \"" + r.cni_version + "\"",
                 "supported versions: " + spoken};
  }
  if (const json::value* prev = r.config.if_contains("prevResult"); prev && !prev->is_null()) {
    if (!prev->is_object()) return Error{kInvalidNetworkConfig, "prevResult is not a JSON object", ""};
    r.prev_result = *prev;
  }
  if (r.command == Command::status || r.command == Command::gc) return r;

  auto required = [&](const char* name, std::string& into) -> std::optional<Error> {
    auto value = env(name);
    if (!value) return env_error(std::string(name) + " is not set; the container runtime sets it for " + *command_text);
    into = *value;
    return std::nullopt;
  };
  if (auto e = required("CNI_CONTAINERID", r.container_id)) return *e;
  if (auto e = required("CNI_IFNAME", r.ifname)) return *e;
  // DEL may come after the namespace is gone, with CNI_NETNS empty.
  if (r.command != Command::del)
    if (auto e = required("CNI_NETNS", r.netns)) return *e;
  if (r.command == Command::del) r.netns = env("CNI_NETNS").value_or("");
  auto args = parse_args(env("CNI_ARGS").value_or(""));
  if (!args) return env_error("CNI_ARGS is not a list of KEY=VALUE pairs separated by ';'");
  r.args = std::move(*args);
  return r;
}

std::string error_json(const Error& error, std::string_view cni_version) {
  json::object o;
  o["cniVersion"] = is_supported_version(cni_version) ? cni_version : std::string_view(supported_versions().front());
  o["code"] = error.code;
  o["msg"] = error.msg;
  if (!error.details.empty()) o["details"] = error.details;
  return json::serialize(o) + "\n";
}

std::string version_json(std::string_view cni_version) {
  json::object o;
  o["cniVersion"] = is_supported_version(cni_version) ? cni_version : std::string_view(supported_versions().front());
  json::array versions;
  for (const auto& v : supported_versions()) versions.emplace_back(v);
  o["supportedVersions"] = std::move(versions);
  return json::serialize(o) + "\n";
}

std::string prev_result_json(const Request& request) {
  json::object result = request.prev_result ? request.prev_result->get_object() : json::object();
  result["cniVersion"] = request.cni_version;
  return json::serialize(result) + "\n";
}

}  // namespace azwi::cni
