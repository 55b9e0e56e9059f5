#pragma once
// What azwi-proxy-init does: pick the iptables backend, read the nat table, plan, apply the plan in one
// iptables-restore transaction, verify, and print the resulting table. Failures end with an exit code and a message
// that says what is missing and how to fix it.
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "common/log.hpp"
#include "netredirect/backend.hpp"
#include "netredirect/command.hpp"
#include "netredirect/config.hpp"

namespace azwi::netredirect {

enum ExitCode : int {
  kExitOk = 0,
  kExitFailed = 1,               // iptables refused or the result could not be verified
  kExitInvalidConfig = 2,        // bad flag or environment variable
  kExitMissingPrerequisite = 3,  // no NET_ADMIN, no iptables programs, or no kernel support
};

struct Options {
  bool dry_run = false;
  bool cleanup = false;
  bool check = false;  // only verify that the rules are in place (azwi-cni's CHECK); change nothing
  std::optional<Backend> backend;  // nullopt: detect
};

// The outside world, injectable so that failure handling can be unit tested.
struct Host {
  std::function<CommandResult(const std::vector<std::string>& argv, const std::string& input)> run;
  std::function<bool()> has_net_admin;
};

// Real programs (bounded to 30 s each) and the capability set of this process.
Host system_host();

// True unless /proc/self/status shows CAP_NET_ADMIN missing from the effective set.
bool process_has_net_admin();

struct Failure {
  int exit_code = kExitFailed;
  std::string message;  // what went wrong
  std::string hint;     // how to fix it
};

// Turns a failed iptables command into a message and a fix: a missing program names the package, a permission
// error names the NET_ADMIN capability, missing kernel support names the modules and the other backend.
Failure describe_failure(const std::vector<std::string>& argv, const CommandResult& result, bool has_net_admin,
                         Backend backend);

struct RedirectResult {
  int exit_code = kExitOk;
  Failure failure;     // when exit_code is not kExitOk
  std::string output;  // the dry-run ruleset or the resulting nat table (also after a failed verification)
};

// Installs, removes or checks the redirect in the current network namespace; logs what it did and why it failed.
RedirectResult redirect(const Options& options, const Config& config, const Host& host, const log::Logger& log);

// Runs proxy-init; `out` receives the dry-run ruleset or the resulting nat table, the log everything else.
int run_proxy_init(const Options& options, const Config& config, const Host& host, std::ostream& out,
                   const log::Logger& log);

}  // namespace azwi::netredirect
