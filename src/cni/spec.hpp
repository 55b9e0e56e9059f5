#pragma once
// The CNI protocol as a chained plugin sees it (spec 1.0.0 and 1.1.0, and the 0.3.x/0.4.0 versions older runtimes
// such as containerd 1.6 send): the request from the environment and stdin, the replies on stdout.
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace azwi::cni {

// Newest first; the VERSION reply lists them.
const std::vector<std::string>& supported_versions();
bool is_supported_version(std::string_view version);

// The spec's well-known error codes, and the plugin's own (100 and up).
enum ErrorCode : int {
  kIncompatibleVersion = 1,
  kUnsupportedField = 2,
  kUnknownContainer = 3,
  kInvalidEnvironment = 4,
  kIoFailure = 5,
  kDecodeFailure = 6,
  kInvalidNetworkConfig = 7,
  kTryAgainLater = 11,
  kRedirectFailed = 100,   // iptables could not install (or CHECK did not find) the redirect
  kPodUnreadable = 101,    // the API server answered, but not with the pod (forbidden, not found, malformed)
};

struct Error {
  int code = kInvalidNetworkConfig;
  std::string msg;
  std::string details;
};

enum class Command { add, del, check, version, status, gc };

struct Request {
  Command command = Command::version;
  std::string container_id;  // CNI_CONTAINERID
  std::string netns;         // CNI_NETNS: a path such as /var/run/netns/cni-...
  std::string ifname;        // CNI_IFNAME
  std::map<std::string, std::string> args;  // CNI_ARGS: K8S_POD_NAMESPACE, K8S_POD_NAME, ...
  std::string cni_version;   // the configuration's cniVersion (the version every reply is given in)
  boost::json::object config;               // stdin as sent, plugin keys and prevResult included
  std::optional<boost::json::value> prev_result;

  std::string arg(const std::string& key) const;  // empty when absent
};

// Looks up one environment variable; nullopt means unset.
using EnvLookup = std::function<std::optional<std::string>(const char* name)>;

// Reads CNI_COMMAND and the variables the command needs, and the JSON configuration. Errors carry the spec's code:
// 4 for a missing or bad variable, 6 for stdin that is not a JSON object, 1 for a cniVersion this plugin does not
// speak, 7 for a configuration without cniVersion.
std::variant<Request, Error> parse_request(const EnvLookup& env, std::string_view stdin_text);

// `{"cniVersion","code","msg","details"}`, as the runtime expects on stdout with a non-zero exit.
std::string error_json(const Error& error, std::string_view cni_version);
// `{"cniVersion","supportedVersions"}`.
std::string version_json(std::string_view cni_version);
// ADD's and CHECK's pass-through: prevResult unchanged but for its cniVersion, which is the configuration's.
std::string prev_result_json(const Request& request);

}  // namespace azwi::cni
