#pragma once
// azwi-cni as a chained CNI plugin: on ADD (and CHECK) for a pod whose sidecar mode is `cni`, it enters the pod's
// network namespace and installs (verifies) the redirect of src/netredirect, the same rules azwi-proxy-init
// installs; every other pod passes through untouched. Whether a pod asked is read from the API server with the
// node's narrowly scoped credentials (get pods); when the API server cannot be asked the sandbox fails rather
// than start a pod that expects the redirect without it.
#include <boost/json/value.hpp>
#include <functional>
#include <string>

#include "cni/spec.hpp"
#include "common/log.hpp"
#include "netredirect/proxy_init.hpp"

namespace azwi::cni {

// Keys of the plugin's entry in the conflist.
inline constexpr std::string_view kPluginType = "azwi-cni";
inline constexpr std::string_view kKubeconfigKey = "kubeconfig";                // path on the node, required
inline constexpr std::string_view kExcludeNamespacesKey = "excludeNamespaces";  // pods never asked about

struct PodLookup {
  enum class Status {
    found,    // `pod` holds the object
    failed,   // no answer (connection, TLS, timeout, 5xx, unreadable kubeconfig): try again later
    refused,  // an answer that is not the pod (401, 403, 404, malformed)
  };
  Status status = Status::failed;
  boost::json::value pod;
  std::string error;
};

// The outside world, injectable so that every failure can be unit tested.
struct PluginHost {
  std::function<PodLookup(const std::string& kubeconfig, const std::string& ns, const std::string& name)> get_pod;
  // Moves the calling thread (and so the programs it runs) into the network namespace at `path`; empty on
  // success, else why not.
  std::function<std::string(const std::string& path)> enter_netns;
  netredirect::Host redirect;
};

// GET /api/v1/namespaces/NS/pods/NAME with the kubeconfig, setns(2), and the real iptables programs.
PluginHost system_plugin_host();

struct Reply {
  int exit_code = 0;
  std::string out;  // what goes to stdout: a result, a version answer or an error object
};

Reply run_plugin(const Request& request, const PluginHost& host, const log::Logger& log);

// The whole invocation: parse the environment and stdin, then run_plugin (an unparsable request is an error reply).
Reply handle(const EnvLookup& env, std::string_view stdin_text, const PluginHost& host, const log::Logger& log);

}  // namespace azwi::cni
