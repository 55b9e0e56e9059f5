// azwi-proxy-init: installs the nat rules that send a pod's IMDS traffic to the azwi-proxy sidecar.
#include <cstdio>
#include <iostream>

#include "common/env.hpp"
#include "common/flags.hpp"
#include "common/log.hpp"
#include "common/logging_flags.hpp"
#include "netredirect/proxy_init.hpp"

using namespace azwi;

int main(int argc, char** argv) {
  bool dry_run = false;
  bool cleanup = false;
  std::string backend_flag = "auto";
  log::LoggingFlags logging;

  FlagSet flags("azwi-proxy-init",
                "Init container for pods that use the azwi-proxy sidecar: redirects the pod's TCP traffic to the\n"
                "instance metadata endpoint (169.254.169.254:80) to the proxy on 127.0.0.1, except the proxy's own\n"
                "traffic. Applies the rules in one iptables-restore transaction to the nat table; rerunning is safe.\n"
                "Needs the NET_ADMIN capability and the iptables programs (iptables-nft-* and/or iptables-legacy-*).");
  flags.add_bool("dry-run", &dry_run, "print the iptables-restore input that would be applied and change nothing");
  flags.add_bool("cleanup", &cleanup, "remove the rules and chains proxy-init installed instead of installing them");
  flags.add_string("iptables-backend", &backend_flag,
                   "auto, nft or legacy: auto uses the backend that already holds the pod's rules (nft if none)");
  logging.add_to(flags);
  flags.add_version(AZWI_VERSION);
  flags.add_env("PROXY_PORT", "port the azwi-proxy sidecar listens on, 1..65535 (default 8000)");
  flags.add_env("METADATA_IP", "IPv4 address of the instance metadata endpoint (default 169.254.169.254)");
  flags.add_env("METADATA_PORT", "port of the instance metadata endpoint, 1..65535 (default 80)");
  flags.add_env("PROXY_UID", "UID the azwi-proxy sidecar runs as; its own traffic is not redirected (default 1501)");
  auto positional = parse_flags_or_exit(flags, argc, argv);
  logging.apply_or_exit("azwi-proxy-init");
  log::Logger log("proxy-init");

  if (!positional.empty()) {
    log.error("unexpected argument (proxy-init takes flags only; see --help)", {{"argument", positional.front()}});
    return netredirect::kExitInvalidConfig;
  }
  netredirect::Options options;
  options.dry_run = dry_run;
  options.cleanup = cleanup;
  if (backend_flag != "auto") {
    options.backend = netredirect::parse_backend(backend_flag);
    if (!options.backend) {
      log.error("invalid value for --iptables-backend: expected auto, nft or legacy", {{"value", backend_flag}});
      return netredirect::kExitInvalidConfig;
    }
  }
  auto config = netredirect::config_from_env([](const char* name) { return azwi::env(name); });
  if (auto* problem = std::get_if<std::string>(&config)) {
    log.error("invalid environment: " + *problem, {{"hint", "fix the variable in the init container's env"}});
    return netredirect::kExitInvalidConfig;
  }
  return netredirect::run_proxy_init(options, std::get<netredirect::Config>(config), netredirect::system_host(),
                                     std::cout, log);
}
