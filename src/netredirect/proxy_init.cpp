#include "netredirect/proxy_init.hpp"

#include <cerrno>
#include <cstdint>
#include <fstream>
#include <ostream>
#include <sstream>

#include "netredirect/nat_table.hpp"
#include "netredirect/plan.hpp"

namespace azwi::netredirect {
namespace {

constexpr int kCapNetAdmin = 12;
constexpr int kMaxApplyAttempts = 3;

const char* const kNetAdminHint =
    "give the init container the NET_ADMIN capability and run it as root: securityContext: "
    "{capabilities: {add: [NET_ADMIN]}, runAsUser: 0} (the azwi webhook sets this when it injects the proxy)";

bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

// The first few lines of a program's stderr, enough to show the cause without flooding the log.
std::string first_lines(const std::string& text, int max_lines = 4) {
  std::string out;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  while (n < max_lines && std::getline(in, line)) {
    if (line.empty() || line.rfind("Try `", 0) == 0 || line.rfind("# Warning", 0) == 0) continue;
    if (!out.empty()) out += " | ";
    out += line;
    ++n;
  }
  return out;
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

RedirectResult fail(const log::Logger& log, const Failure& f, std::string output = {}) {
  log.error(f.message, {{"hint", f.hint}, {"exit_code", f.exit_code}});
  return {f.exit_code, f, std::move(output)};
}

struct ReadTable {
  bool ok = false;
  Failure failure;
  std::string text;
  NatTable table;
};

ReadTable read_nat_table(const Host& host, Backend backend, bool has_net_admin) {
  ReadTable rt;
  std::vector<std::string> argv{save_program(backend), "-t", "nat"};
  CommandResult r = host.run(argv, "");
  if (!r.ok()) {
    rt.failure = describe_failure(argv, r, has_net_admin, backend);
    return rt;
  }
  auto parsed = parse_nat_table(r.out);
  if (auto* err = std::get_if<std::string>(&parsed)) {
    rt.failure = {kExitFailed, "cannot understand the output of " + format_argv(argv) + ": " + *err,
                  "check that " + save_program(backend) + " is the iptables 1.8 program"};
    return rt;
  }
  rt.ok = true;
  rt.text = std::move(r.out);
  rt.table = std::move(std::get<NatTable>(parsed));
  return rt;
}

}  // namespace

bool process_has_net_admin() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("CapEff:", 0) != 0) continue;
    try {
      std::uint64_t caps = std::stoull(line.substr(7), nullptr, 16);
      return (caps >> kCapNetAdmin) & 1U;
    } catch (const std::exception&) {
      return true;
    }
  }
  return true;  // cannot tell: let iptables itself decide
}

Host system_host() {
  Host h;
  h.run = [](const std::vector<std::string>& argv, const std::string& input) {
    CommandOptions opts;
    opts.input = input;
    opts.timeout = std::chrono::seconds(30);
    return run_command(argv, opts);
  };
  h.has_net_admin = process_has_net_admin;
  return h;
}

Failure describe_failure(const std::vector<std::string>& argv, const CommandResult& r, bool has_net_admin,
                         Backend backend) {
  const std::string program = argv.empty() ? std::string("iptables") : argv[0];
  const std::string other(backend_name(other_backend(backend)));
  switch (r.status) {
    case CommandResult::Status::spawn_failed:
      if (r.spawn_errno == ENOENT)
        return {kExitMissingPrerequisite, program + " not found in PATH",
                "the proxy-init image needs the iptables package (Debian/Ubuntu: apt-get install iptables, which "
                "provides both iptables-nft-* and iptables-legacy-*; Alpine: apk add iptables iptables-legacy), "
                "or choose an installed backend with --iptables-backend=" + other};
      return {kExitMissingPrerequisite, "cannot run " + program + ": " + r.describe(),
              "check that " + program + " is executable in the proxy-init image"};
    case CommandResult::Status::timed_out:
      return {kExitFailed, format_argv(argv) + " did not finish within 30 seconds and was stopped",
              "another process may hold the xtables lock; rerun the pod, and check the node for stuck iptables "
              "processes"};
    case CommandResult::Status::signaled:
      return {kExitFailed, format_argv(argv) + " was " + r.describe(), "rerun the pod; check the node's kernel log"};
    case CommandResult::Status::exited:
      break;
  }
  const std::string detail = first_lines(r.err);
  const std::string what = format_argv(argv) + " failed (" + r.describe() + ")" + (detail.empty() ? "" : ": " + detail);
  if (!has_net_admin || contains(r.err, "Permission denied") || contains(r.err, "you must be root") ||
      contains(r.err, "Operation not permitted"))
    return {kExitMissingPrerequisite, "permission denied changing iptables rules, the NET_ADMIN capability is missing: " + what,
            kNetAdminHint};
  if (contains(r.err, "Table does not exist") || contains(r.err, "insmod") || contains(r.err, "kernel module") ||
      contains(r.err, "Couldn't load target `REDIRECT'") || contains(r.err, "Couldn't load match `owner'") ||
      contains(r.err, "not supported"))
    return {kExitMissingPrerequisite, "the kernel lacks support the " + std::string(backend_name(backend)) +
                                          " backend needs: " + what,
            backend == Backend::nft
                ? "load nf_tables, nft_nat, nft_redir and nft_compat (xt_owner) on the node, or use "
                  "--iptables-backend=legacy"
                : "load ip_tables, iptable_nat, xt_REDIRECT and xt_owner on the node, or use --iptables-backend=nft"};
  return {kExitFailed, what, "see the iptables message above; rerunning proxy-init is safe"};
}

int run_proxy_init(const Options& options, const Config& config, const Host& host, std::ostream& out,
                   const log::Logger& log) {
  RedirectResult outcome = redirect(options, config, host, log);
  out << outcome.output;
  out.flush();
  return outcome.exit_code;
}

RedirectResult redirect(const Options& options, const Config& config, const Host& host, const log::Logger& log) {
  const std::string action = options.check ? "check" : options.cleanup ? "cleanup" : "install";
  log.info("starting", {{"action", action},
                        {"dry_run", options.dry_run},
                        {"proxy_port", config.proxy_port},
                        {"metadata_ip", config.metadata_ip},
                        {"metadata_port", config.metadata_port},
                        {"proxy_uid", static_cast<std::int64_t>(config.proxy_uid)}});

  const bool net_admin = host.has_net_admin();
  if (!net_admin && (!options.dry_run || options.check))
    return fail(log, {kExitMissingPrerequisite,
                      "the NET_ADMIN capability is missing, so the iptables rules cannot be changed", kNetAdminHint});

  Backend backend = options.backend.value_or(Backend::nft);
  NatTable table;
  if (!net_admin) {
    // Dry run without the capability: nothing can be read, so show the plan against an empty table.
    log.warn("NET_ADMIN is missing: cannot read the current rules; planning against an empty nat table",
             {{"backend", backend_name(backend)}, {"hint", kNetAdminHint}});
  } else {
    if (options.backend) {
      log.info("iptables backend chosen", {{"backend", backend_name(backend)}, {"reason", "--iptables-backend"}});
    } else {
      BackendProbe probes[2];
      CommandResult results[2];
      const Backend order[2] = {Backend::nft, Backend::legacy};
      for (int i = 0; i < 2; ++i) {
        results[i] = host.run({save_program(order[i])}, "");
        probes[i].usable = results[i].ok();
        probes[i].rules = probes[i].usable ? count_rules(results[i].out) : 0;
        if (!probes[i].usable) probes[i].problem = save_program(order[i]) + " " + results[i].describe();
      }
      if (!probes[0].usable && !probes[1].usable) {
        bool both_missing = results[0].status == CommandResult::Status::spawn_failed &&
                            results[1].status == CommandResult::Status::spawn_failed &&
                            results[0].spawn_errno == ENOENT && results[1].spawn_errno == ENOENT;
        if (both_missing)
          return fail(log, {kExitMissingPrerequisite,
                            "iptables is not installed: neither iptables-nft-save nor iptables-legacy-save is in PATH",
                            "the proxy-init image needs the iptables package (Debian/Ubuntu: apt-get install "
                            "iptables; Alpine: apk add iptables iptables-legacy)"});
        // Report the backend that is installed but failed, which says more than "not found" for the other one.
        int shown = results[0].status == CommandResult::Status::spawn_failed && results[0].spawn_errno == ENOENT;
        return fail(log, describe_failure({save_program(order[shown])}, results[shown], net_admin, order[shown]));
      }
      BackendChoice choice = choose_backend(probes[0], probes[1]);
      backend = choice.backend;
      log.info("iptables backend detected", {{"backend", backend_name(backend)}, {"reason", choice.reason}});
    }
    ReadTable rt = read_nat_table(host, backend, net_admin);
    if (!rt.ok) return fail(log, rt.failure);
    table = std::move(rt.table);
  }

  if (options.check) {
    if (!is_installed(config, table))
      return fail(log, {kExitFailed,
                        "the nat table does not hold the redirect rules (" + std::string(backend_name(backend)) +
                            " backend): " + join(desired_rules(config), "; "),
                        "the rules were removed or changed after they were installed; recreate the pod"});
    log.info("the redirect rules are in place", {{"backend", backend_name(backend)}});
    return {};
  }

  Plan plan = options.cleanup ? plan_cleanup(table) : plan_install(config, table);

  if (options.dry_run) {
    std::string out = "# azwi-proxy-init --dry-run (" + action + ", " + std::string(backend_name(backend)) +
                      " backend): input for " + restore_program(backend) + " --noflush\n";
    if (!plan.changes) {
      out += std::string("# nothing to change: ") +
             (options.cleanup ? "no azwi rules are installed" : "the nat table already holds exactly these rules") +
             "\n";
      if (!options.cleanup)
        for (const auto& rule : desired_rules(config)) out += "# " + rule + "\n";
    }
    out += plan.restore_input;
    log.info("dry run: nothing was changed", {{"changes_needed", plan.changes}});
    return {kExitOk, {}, std::move(out)};
  }

  if (!plan.changes) {
    log.info(options.cleanup ? "no azwi rules are installed; nothing to remove"
                             : "the redirect rules are already in place; nothing to change",
             {{"backend", backend_name(backend)}});
  }
  for (int attempt = 1; plan.changes; ++attempt) {
    std::vector<std::string> argv{restore_program(backend), "--noflush", "--wait=10"};
    log.debug("applying", {{"backend", backend_name(backend)}, {"input", plan.restore_input}});
    CommandResult r = host.run(argv, plan.restore_input);
    if (r.ok()) {
      // "previous" lists our rules as they were; the transaction replaced all of them.
      log.info(options.cleanup ? "removed the redirect rules" : "installed the redirect rules",
               {{"backend", backend_name(backend)},
                {"previous", join(plan.removing, "; ")},
                {"rules", join(plan.adding, "; ")}});
      break;
    }
    Failure f = describe_failure(argv, r, net_admin, backend);
    // The transaction failed as a whole, so nothing changed; a concurrent edit of the table (a rule we meant to
    // delete is gone) is worth another read and plan, anything else is not.
    if (f.exit_code != kExitFailed || attempt >= kMaxApplyAttempts) return fail(log, f);
    log.warn("iptables-restore failed; reading the table again and retrying",
             {{"attempt", attempt}, {"error", f.message}});
    ReadTable rt = read_nat_table(host, backend, net_admin);
    if (!rt.ok) return fail(log, rt.failure);
    plan = options.cleanup ? plan_cleanup(rt.table) : plan_install(config, rt.table);
  }

  ReadTable after = read_nat_table(host, backend, net_admin);
  if (!after.ok) return fail(log, after.failure);
  bool as_wanted = options.cleanup ? is_clean(after.table) : is_installed(config, after.table);
  if (!as_wanted)
    return fail(log,
                {kExitFailed, "after applying, the nat table does not hold the expected rules (the table is on standard output)",
                 "another process may have changed the nat table at the same time; rerun proxy-init"},
                std::move(after.text));
  log.info("done", {{"action", action}, {"backend", backend_name(backend)}});
  return {kExitOk, {}, std::move(after.text)};
}

}  // namespace azwi::netredirect
