// run_proxy_init against a scripted host: which programs it runs, what it prints, and how failures read.
#include "netredirect/proxy_init.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <deque>
#include <map>
#include <sstream>

#include "netredirect/plan.hpp"

using namespace azwi::netredirect;
namespace log = azwi::log;

namespace {

const char* const kEmptyNat = "*nat\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n";

std::string installed_nat(const Config& c) {
  std::string s = "*nat\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:AZWI_PROXY_OUTPUT - [0:0]\n"
                  ":AZWI_PROXY_REDIRECT - [0:0]\n";
  for (const auto& r : desired_rules(c)) s += r + "\n";
  return s + "COMMIT\n";
}

CommandResult exited(int code, std::string out = "", std::string err = "") {
  CommandResult r;
  r.status = CommandResult::Status::exited;
  r.exit_code = code;
  r.out = std::move(out);
  r.err = std::move(err);
  return r;
}

CommandResult not_found() {
  CommandResult r;
  r.status = CommandResult::Status::spawn_failed;
  r.spawn_errno = ENOENT;
  return r;
}

// Answers each program (argv[0]) from a queue; the last answer repeats. Records every call.
struct ScriptedHost {
  std::map<std::string, std::deque<CommandResult>> answers;
  std::vector<std::vector<std::string>> calls;
  std::vector<std::string> inputs;
  bool net_admin = true;

  Host host() {
    Host h;
    h.run = [this](const std::vector<std::string>& argv, const std::string& input) {
      calls.push_back(argv);
      inputs.push_back(input);
      auto it = answers.find(argv[0]);
      if (it == answers.end() || it->second.empty()) return not_found();
      CommandResult r = it->second.front();
      if (it->second.size() > 1) it->second.pop_front();
      return r;
    };
    h.has_net_admin = [this] { return net_admin; };
    return h;
  }
  int count(const std::string& program) const {
    int n = 0;
    for (const auto& c : calls) n += c[0] == program;
    return n;
  }
};

struct Outcome {
  int code;
  std::string out;
  std::string log;
};

Outcome run(ScriptedHost& sh, Options o, Config c = {}) {
  log::configure(log::Level::info, log::Format::text);
  std::ostringstream out;
  testing::internal::CaptureStderr();
  int code = run_proxy_init(o, c, sh.host(), out, log::Logger("proxy-init"));
  std::string logged = testing::internal::GetCapturedStderr();
  return {code, out.str(), logged};
}

}  // namespace

TEST(ProxyInitRun, InstallsOnEmptyTableWithDetectedNftAndPrintsTheResult) {
  ScriptedHost sh;
  sh.answers["iptables-nft-save"] = {exited(0, "*filter\nCOMMIT\n"), exited(0, kEmptyNat),
                                     exited(0, installed_nat(Config{}))};
  sh.answers["iptables-legacy-save"] = {exited(0, "")};
  sh.answers["iptables-nft-restore"] = {exited(0)};
  Outcome r = run(sh, {});
  EXPECT_EQ(r.code, kExitOk) << r.log;
  EXPECT_EQ(r.out, installed_nat(Config{}));
  ASSERT_EQ(sh.count("iptables-nft-restore"), 1);
  EXPECT_EQ(sh.count("iptables-legacy-restore"), 0);
  EXPECT_EQ(sh.calls[3], (std::vector<std::string>{"iptables-nft-restore", "--noflush", "--wait=10"}));
  EXPECT_EQ(sh.inputs[3], plan_install(Config{}, {}).restore_input);
  EXPECT_NE(r.log.find("backend=nft"), std::string::npos) << r.log;
  EXPECT_NE(r.log.find("nft is the default"), std::string::npos) << r.log;
}

TEST(ProxyInitRun, LegacyRulesInThePodSelectTheLegacyPrograms) {
  ScriptedHost sh;
  sh.answers["iptables-nft-save"] = {exited(0, "# Warning: iptables-legacy tables present\n")};
  sh.answers["iptables-legacy-save"] = {exited(0, "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\nCOMMIT\n"),
                                        exited(0, kEmptyNat), exited(0, installed_nat(Config{}))};
  sh.answers["iptables-legacy-restore"] = {exited(0)};
  Outcome r = run(sh, {});
  EXPECT_EQ(r.code, kExitOk) << r.log;
  EXPECT_EQ(sh.count("iptables-legacy-restore"), 1);
  EXPECT_EQ(sh.count("iptables-nft-restore"), 0);
  EXPECT_NE(r.log.find("existing rules are in the legacy backend"), std::string::npos) << r.log;
}

TEST(ProxyInitRun, BackendFlagSkipsDetection) {
  ScriptedHost sh;
  sh.answers["iptables-legacy-save"] = {exited(0, kEmptyNat), exited(0, installed_nat(Config{}))};
  sh.answers["iptables-legacy-restore"] = {exited(0)};
  Options o;
  o.backend = Backend::legacy;
  Outcome r = run(sh, o);
  EXPECT_EQ(r.code, kExitOk) << r.log;
  EXPECT_EQ(sh.count("iptables-nft-save"), 0);
  EXPECT_EQ(sh.calls[0], (std::vector<std::string>{"iptables-legacy-save", "-t", "nat"}));
}

TEST(ProxyInitRun, AlreadyInstalledRunsNoRestore) {
  ScriptedHost sh;
  sh.answers["iptables-nft-save"] = {exited(0, installed_nat(Config{}))};
  sh.answers["iptables-legacy-save"] = {exited(0, "")};
  Outcome r = run(sh, {});
  EXPECT_EQ(r.code, kExitOk) << r.log;
  EXPECT_EQ(sh.count("iptables-nft-restore"), 0);
  EXPECT_NE(r.log.find("already in place"), std::string::npos) << r.log;
  EXPECT_EQ(r.out, installed_nat(Config{}));
}

TEST(ProxyInitRun, DryRunPrintsThePlanAndChangesNothing) {
  ScriptedHost sh;
  sh.answers["iptables-nft-save"] = {exited(0, kEmptyNat)};
  sh.answers["iptables-legacy-save"] = {exited(0, "")};
  Options o;
  o.dry_run = true;
  Config c;
  c.proxy_port = 9999;
  Outcome r = run(sh, o, c);
  EXPECT_EQ(r.code, kExitOk) << r.log;
  EXPECT_EQ(sh.count("iptables-nft-restore") + sh.count("iptables-legacy-restore"), 0);
  EXPECT_NE(r.out.find("# azwi-proxy-init --dry-run (install, nft backend)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(plan_install(c, {}).restore_input), std::string::npos) << r.out;
}

TEST(ProxyInitRun, DryRunWithoutNetAdminPlansAgainstAnEmptyTable) {
  ScriptedHost sh;
  sh.net_admin = false;
  Options o;
  o.dry_run = true;
  Outcome r = run(sh, o);
  EXPECT_EQ(r.code, kExitOk) << r.log;
  EXPECT_TRUE(sh.calls.empty());
  EXPECT_NE(r.out.find("-A AZWI_PROXY_REDIRECT -p tcp -j REDIRECT --to-ports 8000"), std::string::npos);
  EXPECT_NE(r.log.find("NET_ADMIN is missing"), std::string::npos) << r.log;
}

TEST(ProxyInitRun, MissingNetAdminFailsBeforeRunningAnything) {
  ScriptedHost sh;
  sh.net_admin = false;
  Outcome r = run(sh, {});
  EXPECT_EQ(r.code, kExitMissingPrerequisite);
  EXPECT_TRUE(sh.calls.empty());
  EXPECT_NE(r.log.find("NET_ADMIN capability is missing"), std::string::npos) << r.log;
  EXPECT_NE(r.log.find("capabilities: {add: [NET_ADMIN]}"), std::string::npos) << r.log;
}

TEST(ProxyInitRun, PermissionDeniedFromIptablesNamesNetAdmin) {
  ScriptedHost sh;
  sh.answers["iptables-nft-save"] = {
      exited(4, "", "iptables-nft-save v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied "
                    "(you must be root)\n")};
  sh.answers["iptables-legacy-save"] = {
      exited(1, "", "iptables-save v1.8.9 (legacy): Cannot initialize: Permission denied (you must be root)\n")};
  Outcome r = run(sh, {});
  EXPECT_EQ(r.code, kExitMissingPrerequisite);
  EXPECT_NE(r.log.find("NET_ADMIN capability is missing"), std::string::npos) << r.log;
  EXPECT_NE(r.log.find("Permission denied"), std::string::npos) << r.log;
}

TEST(ProxyInitRun, WhenOneBackendIsMissingTheOthersFailureIsReported) {
  ScriptedHost sh;
  sh.answers["iptables-legacy-save"] = {
      exited(1, "", "iptables-save v1.8.9 (legacy): Cannot initialize: Permission denied (you must be root)\n")};
  Outcome r = run(sh, {});
  EXPECT_EQ(r.code, kExitMissingPrerequisite);
  EXPECT_NE(r.log.find("iptables-legacy-save failed (exit code 1): iptables-save v1.8.9 (legacy): Cannot initialize"),
            std::string::npos)
      << r.log;
}

TEST(ProxyInitRun, NoIptablesInstalledNamesThePackage) {
  ScriptedHost sh;
  Outcome r = run(sh, {});
  EXPECT_EQ(r.code, kExitMissingPrerequisite);
  EXPECT_NE(r.log.find("iptables is not installed"), std::string::npos) << r.log;
  EXPECT_NE(r.log.find("apt-get install iptables"), std::string::npos) << r.log;
}

TEST(ProxyInitRun, MissingChosenBackendNamesTheProgramAndTheAlternative) {
  ScriptedHost sh;
  Options o;
  o.backend = Backend::legacy;
  Outcome r = run(sh, o);
  EXPECT_EQ(r.code, kExitMissingPrerequisite);
  EXPECT_NE(r.log.find("iptables-legacy-save not found in PATH"), std::string::npos) << r.log;
  EXPECT_NE(r.log.find("--iptables-backend=nft"), std::string::npos) << r.log;
}

TEST(ProxyInitRun, MissingKernelSupportNamesModulesAndOtherBackend) {
  ScriptedHost sh;
  sh.answers["iptables-nft-save"] = {exited(0, kEmptyNat)};
  sh.answers["iptables-nft-restore"] = {
      exited(1, "", "iptables-nft-restore v1.8.9 (nf_tables): Couldn't load target `REDIRECT':No such file or directory\n"
                    "\nError occurred at line: 4\nTry `iptables-nft-restore -h' for more information.\n")};
  Options o;
  o.backend = Backend::nft;
  Outcome r = run(sh, o);
  EXPECT_EQ(r.code, kExitMissingPrerequisite);
  EXPECT_EQ(sh.count("iptables-nft-restore"), 1) << "kernel problems are not retried";
  EXPECT_NE(r.log.find("kernel lacks support"), std::string::npos) << r.log;
  EXPECT_NE(r.log.find("--iptables-backend=legacy"), std::string::npos) << r.log;
}

TEST(ProxyInitRun, ConcurrentChangeIsRetriedWithAFreshPlan) {
  ScriptedHost sh;
  Config c;
  c.proxy_port = 9000;
  sh.answers["iptables-nft-save"] = {exited(0, installed_nat(Config{})), exited(0, kEmptyNat),
                                     exited(0, installed_nat(c))};
  sh.answers["iptables-nft-restore"] = {
      exited(1, "", "iptables-nft-restore: Bad rule (does a matching rule exist in that chain?)\n"), exited(0)};
  Options o;
  o.backend = Backend::nft;
  Outcome r = run(sh, o, c);
  EXPECT_EQ(r.code, kExitOk) << r.log;
  ASSERT_EQ(sh.count("iptables-nft-restore"), 2);
  EXPECT_NE(sh.inputs[1].find("-D OUTPUT"), std::string::npos);
  EXPECT_EQ(sh.inputs[3].find("-D OUTPUT"), std::string::npos) << "second plan is made from the re-read table";
  EXPECT_NE(r.log.find("retrying"), std::string::npos);
}

TEST(ProxyInitRun, PersistentRestoreFailureGivesUpAfterBoundedAttempts) {
  ScriptedHost sh;
  sh.answers["iptables-nft-save"] = {exited(0, kEmptyNat)};
  sh.answers["iptables-nft-restore"] = {exited(2, "", "iptables-nft-restore: line 3 failed\n")};
  Options o;
  o.backend = Backend::nft;
  Outcome r = run(sh, o);
  EXPECT_EQ(r.code, kExitFailed);
  EXPECT_EQ(sh.count("iptables-nft-restore"), 3);
  EXPECT_NE(r.log.find("line 3 failed"), std::string::npos) << r.log;
}

TEST(ProxyInitRun, VerificationCatchesATableThatDoesNotHoldTheRules) {
  ScriptedHost sh;
  sh.answers["iptables-nft-save"] = {exited(0, kEmptyNat)};  // still empty after "applying"
  sh.answers["iptables-nft-restore"] = {exited(0)};
  Options o;
  o.backend = Backend::nft;
  Outcome r = run(sh, o);
  EXPECT_EQ(r.code, kExitFailed);
  EXPECT_NE(r.log.find("does not hold the expected rules"), std::string::npos) << r.log;
  EXPECT_EQ(r.out, kEmptyNat) << "the table is printed so the log shows what is there";
}

TEST(ProxyInitRun, UnparsableSaveOutputIsAClearError) {
  ScriptedHost sh;
  sh.answers["iptables-nft-save"] = {exited(0, "*nat\n:OUTPUT ACCEPT [0:0]\n")};
  Options o;
  o.backend = Backend::nft;
  Outcome r = run(sh, o);
  EXPECT_EQ(r.code, kExitFailed);
  EXPECT_NE(r.log.find("cannot understand the output of iptables-nft-save -t nat"), std::string::npos) << r.log;
}

TEST(ProxyInitRun, CleanupRemovesAndVerifies) {
  ScriptedHost sh;
  sh.answers["iptables-nft-save"] = {exited(0, installed_nat(Config{})), exited(0, kEmptyNat)};
  sh.answers["iptables-nft-restore"] = {exited(0)};
  Options o;
  o.backend = Backend::nft;
  o.cleanup = true;
  Outcome r = run(sh, o);
  EXPECT_EQ(r.code, kExitOk) << r.log;
  ASSERT_EQ(sh.inputs.size(), 3u);
  EXPECT_NE(sh.inputs[1].find("-X AZWI_PROXY_OUTPUT"), std::string::npos);
  EXPECT_EQ(r.out, kEmptyNat);
}

TEST(ProxyInitRun, HungIptablesIsReportedAsTimeout) {
  ScriptedHost sh;
  CommandResult t;
  t.status = CommandResult::Status::timed_out;
  sh.answers["iptables-nft-save"] = {t};
  Options o;
  o.backend = Backend::nft;
  Outcome r = run(sh, o);
  EXPECT_EQ(r.code, kExitFailed);
  EXPECT_NE(r.log.find("did not finish within 30 seconds"), std::string::npos) << r.log;
}
