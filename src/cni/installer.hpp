#pragma once
// azwi-cni's node agent (the chart's DaemonSet, `azwi-cni install`): copies the plugin binary into the node's CNI
// bin directory, writes the kubeconfig the plugin asks the API server with (the agent's own service-account token,
// which may only get pods, rewritten as the kubelet rotates it), and writes the node's network configuration with
// azwi-cni appended under a name the runtime reads first (00-azwi-cni.conflist), so that a primary CNI rewriting its
// own file (as at a node's boot, before the agent runs again) cannot take azwi-cni out of the chain. It keeps all
// three current (following the primary's file) until it is stopped, when it removes them.
#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "common/log.hpp"

namespace azwi::cni {

inline constexpr const char* kKubeconfigName = "azwi-cni.kubeconfig";
// Sorts before the primary CNI's file, so the runtime reads this one.
inline constexpr const char* kConflistName = "00-azwi-cni.conflist";

struct InstallerOptions {
  std::string binary = "/proc/self/exe";  // the plugin to copy (this very program)
  std::string bin_dir;        // the node's CNI bin directory, as mounted in the agent's container
  std::string conf_dir;       // the node's CNI configuration directory, as mounted
  std::string host_conf_dir;  // the same directory as the node sees it: the plugin reads the kubeconfig there
  std::string account_dir;    // the agent's service-account token and ca.crt
  std::string api_server;     // https://host:port, from KUBERNETES_SERVICE_HOST/PORT
  std::vector<std::string> exclude_namespaces;
  std::chrono::milliseconds interval{std::chrono::seconds(5)};
};

class Installer {
 public:
  Installer(InstallerOptions options, log::Logger log);
  // One round: binary, kubeconfig, conflist, each written only when it differs. Empty on success, else the problem.
  std::string sync();
  // Removes its conflist first (the runtime goes back to the primary's, so no new sandbox calls the plugin), then
  // the kubeconfig and the binary.
  std::string uninstall();

 private:
  InstallerOptions options_;
  log::Logger log_;
};

// Asked when the agent stops: true when its DaemonSet stays (a rolling update, a deleted pod), so that the next pod
// takes over and everything is left in place (no sandbox is made without the plugin meanwhile); false when the
// DaemonSet is gone or going (helm uninstall, cni.enabled=false) or that cannot be told. `why` says which.
using StaysInstalled = std::function<bool(std::string* why)>;

// The real question: GET the DaemonSet `name` in the agent's namespace (its service account's namespace file) with
// its token; it stays when the answer is 200 without a deletionTimestamp.
StaysInstalled daemonset_stays(const std::string& account_dir, const std::string& name);

// sync() every interval until `stop`, then uninstall() unless `stays` says otherwise. Exit code 0, or 1 when the
// uninstall failed.
int run_installer(const InstallerOptions& options, const std::atomic<bool>& stop, const StaysInstalled& stays,
                  const log::Logger& log);

}  // namespace azwi::cni
