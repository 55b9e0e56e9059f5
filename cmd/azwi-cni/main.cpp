// azwi-cni: a chained CNI plugin (run by the container runtime, CNI_COMMAND set) that installs the IMDS redirect in
// the network namespace of pods in `cni` mode; `azwi-cni install` is its node agent (the chart's DaemonSet).
#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <sstream>

#include "cni/installer.hpp"
#include "cni/plugin.hpp"
#include "common/env.hpp"
#include "common/flags.hpp"
#include "common/log.hpp"
#include "common/logging_flags.hpp"
#include "kube/cluster_config.hpp"

using namespace azwi;

namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int) { g_stop.store(true); }

// The runtime's call: stdin is the configuration (bounded: a conflist entry with its prevResult is a few KiB).
int plugin() {
  log::configure(log::Level::info, log::Format::json);  // stderr ends up in the runtime's log
  std::string input;
  char buffer[4096];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, stdin)) > 0 && input.size() < (1u << 20)) input.append(buffer, n);
  cni::Reply reply = cni::handle([](const char* name) { return azwi::env(name); }, input, cni::system_plugin_host(),
                                 log::Logger("azwi-cni"));
  std::fwrite(reply.out.data(), 1, reply.out.size(), stdout);
  return reply.exit_code;
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (azwi::env("CNI_COMMAND")) return plugin();

  cni::InstallerOptions options;
  options.account_dir = kube::kServiceAccountDir;
  options.bin_dir = "/host/opt/cni/bin";
  options.conf_dir = "/host/etc/cni/net.d";
  options.host_conf_dir = "/etc/cni/net.d";
  std::string exclude = "kube-system";
  std::string daemonset = "azwi-cni";
  int interval = 5;
  log::LoggingFlags logging;
  FlagSet flags("azwi-cni",
                "A chained CNI plugin: for pods whose azure.workload.identity/proxy-sidecar-mode annotation is cni, it\n"
                "installs the nat rules sending the pod's traffic for 169.254.169.254:80 to the azwi-proxy sidecar,\n"
                "from inside the pod's network namespace when the runtime creates it (the pod needs no NET_ADMIN).\n"
                "The container runtime runs it with CNI_COMMAND (ADD, DEL, CHECK, VERSION, STATUS, GC) and the\n"
                "configuration on stdin; it asks the API server for the pod with the kubeconfig the conflist names.\n"
                "\n"
                "azwi-cni install [flags]: the node agent (the chart's DaemonSet). Copies this binary into the node's\n"
                "CNI bin directory, writes the plugin's kubeconfig (its own service-account token, kept current),\n"
                "writes the node's chain with azwi-cni appended and keeps all three current; on SIGTERM it removes\n"
                "them unless its DaemonSet stays (a rolling update), whose next pod takes over.");
  flags.add_string("cni-bin-dir", &options.bin_dir, "install: the node's CNI bin directory, as mounted in this container");
  flags.add_string("cni-conf-dir", &options.conf_dir,
                   "install: the node's CNI configuration directory, as mounted in this container");
  flags.add_string("host-cni-conf-dir", &options.host_conf_dir,
                   "install: the same configuration directory as the node sees it (the plugin reads its kubeconfig there)");
  flags.add_string("exclude-namespaces", &exclude,
                   "install: comma-separated namespaces whose pods the plugin passes through without asking the API server");
  flags.add_string("daemonset", &daemonset,
                   "install: the agent's DaemonSet (in its own namespace); while it exists, a stopping agent leaves "
                   "everything in place for the next pod, else it uninstalls");
  flags.add_int("interval", &interval, "install: seconds between checks that everything is still in place", 1, 3600);
  logging.add_to(flags);
  flags.add_version(AZWI_VERSION);
  flags.add_env("CNI_COMMAND", "set by the container runtime: run as the CNI plugin (flags are then ignored)");
  flags.add_env("KUBERNETES_SERVICE_HOST", "install: the API server the plugin's kubeconfig names (with _PORT)");
  auto positional = parse_flags_or_exit(flags, argc, argv);
  logging.apply_or_exit("azwi-cni");
  log::Logger log("cni-installer");
  if (positional.size() != 1 || positional.front() != "install") {
    log.error("azwi-cni runs as a CNI plugin (CNI_COMMAND set by the runtime) or as `azwi-cni install`; see --help",
              {{"arguments", positional.empty() ? std::string("none") : positional.front()}});
    return 2;
  }
  options.exclude_namespaces = split_list(exclude);
  options.interval = std::chrono::seconds(interval);
  try {
    options.api_server = kube::in_cluster_config(options.account_dir).server;
  } catch (const std::exception& e) {
    log.error(std::string("cannot tell the plugin how to reach the API server: ") + e.what(),
              {{"hint", "run the installer as a pod (the chart's azwi-cni DaemonSet)"}});
    return 1;
  }
  std::signal(SIGTERM, on_stop_signal);
  std::signal(SIGINT, on_stop_signal);
  return cni::run_installer(options, g_stop, cni::daemonset_stays(options.account_dir, daemonset), log);
}
