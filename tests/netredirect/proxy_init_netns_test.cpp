// azwi-proxy-init against real iptables, in network namespaces the tests create (root needed; skipped otherwise).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "netns.hpp"
#include "netredirect/nat_table.hpp"

using namespace azwi::netns;
using azwi::netredirect::without_counters;
using namespace std::chrono_literals;

namespace {

const std::string kDefaultRules =
    "-A OUTPUT -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j AZWI_PROXY_OUTPUT\n"
    "-A AZWI_PROXY_OUTPUT -m owner --uid-owner 1501 -j ACCEPT\n"
    "-A AZWI_PROXY_OUTPUT -j AZWI_PROXY_REDIRECT\n"
    "-A AZWI_PROXY_REDIRECT -p tcp -j REDIRECT --to-ports 8000\n";

// The nat table of a fresh namespace with our chains and rules, as saved without counters.
std::string expected_table(const std::string& rules) {
  return "*nat\n:PREROUTING ACCEPT\n:INPUT ACCEPT\n:OUTPUT ACCEPT\n:POSTROUTING ACCEPT\n"
         ":AZWI_PROXY_OUTPUT -\n:AZWI_PROXY_REDIRECT -\n" +
         rules + "COMMIT\n";
}

const std::string kEmptyTable = "*nat\n:PREROUTING ACCEPT\n:INPUT ACCEPT\n:OUTPUT ACCEPT\n:POSTROUTING ACCEPT\nCOMMIT\n";

// Rules another tool (a service mesh, say) put in the pod before proxy-init ran; they must survive untouched.
const std::string kForeignRules = R"(*nat
:MESH_OUTPUT - [0:0]
-A PREROUTING -p tcp -m comment --comment "keep \"me\" -j AZWI_PROXY_OUTPUT" -j MESH_OUTPUT
-A OUTPUT -p udp -m udp --dport 53 -j REDIRECT --to-ports 5353
-A OUTPUT -p tcp -j MESH_OUTPUT
-A MESH_OUTPUT -o lo -j RETURN
COMMIT
)";

std::size_t occurrences(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) ++n;
  return n;
}

std::vector<std::string> curl(const std::string& url) {
  // -q: no ~/.curlrc; --noproxy: proxy variables of the CI environment must not apply.
  return {"curl", "-q", "-sS", "--noproxy", "*", "--max-time", "5", url};
}

CommandResult run_init(const Netns& ns, std::vector<std::string> args, ExecOptions options = {}) {
  std::vector<std::string> argv{PROXY_INIT_BIN, "--log-format=text"};
  argv.insert(argv.end(), args.begin(), args.end());
  options.timeout = 60s;
  return ns.exec(argv, options);
}

std::string describe(const CommandResult& r) {
  return r.describe() + "\n--- stdout\n" + r.out + "--- stderr\n" + r.err;
}

// Why this backend cannot be used in namespaces on this machine, or empty.
std::string backend_unavailable(const std::string& backend) {
  Netns probe("probe");
  CommandResult r = probe.exec({"iptables-" + backend + "-save", "-t", "nat"});
  if (r.ok()) return "";
  return "iptables-" + backend + "-save does not work here (" + r.describe() + "): " + r.err;
}

class ProxyInitNetns : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    AZWI_REQUIRE_NETNS();
    if (std::string why = backend_unavailable(backend()); !why.empty()) GTEST_SKIP() << why;
    ns_ = std::make_unique<Netns>("pi");
  }
  const std::string& backend() const { return GetParam(); }
  std::string backend_flag() const { return "--iptables-backend=" + backend(); }
  std::string nat() const { return ns_->check({"iptables-" + backend() + "-save", "-t", "nat"}); }
  std::string nat_of(const std::string& b) const { return ns_->check({"iptables-" + b + "-save", "-t", "nat"}); }
  void restore(const std::string& input) const {
    ns_->check({"iptables-" + backend() + "-restore", "--noflush"}, ExecOptions().with_input(input));
  }
  std::string other() const { return backend() == "nft" ? "legacy" : "nft"; }

  std::unique_ptr<Netns> ns_;
};

}  // namespace

TEST_P(ProxyInitNetns, InstallsExactlyTheExpectedRulesAndPrintsThem) {
  CommandResult r = run_init(*ns_, {backend_flag()});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(without_counters(nat()), expected_table(kDefaultRules));
  // stdout is the resulting table, so `kubectl logs` shows what is installed.
  EXPECT_EQ(without_counters(r.out), expected_table(kDefaultRules)) << r.out;
  EXPECT_NE(r.err.find("installed the redirect rules backend=" + backend()), std::string::npos) << r.err;
  // Nothing went into the other backend.
  if (backend_unavailable(other()).empty()) {
    EXPECT_EQ(nat_of(other()).find("AZWI"), std::string::npos);
  }
}

TEST_P(ProxyInitNetns, SecondRunChangesNothing) {
  CommandResult first = run_init(*ns_, {backend_flag()});
  ASSERT_EQ(first.exit_code, 0) << describe(first);
  std::string after_first = without_counters(nat());
  CommandResult second = run_init(*ns_, {backend_flag()});
  ASSERT_EQ(second.exit_code, 0) << describe(second);
  EXPECT_EQ(without_counters(nat()), after_first);
  EXPECT_EQ(occurrences(nat(), "-j AZWI_PROXY_OUTPUT"), 1u);
  EXPECT_NE(second.err.find("already in place"), std::string::npos) << second.err;
}

TEST_P(ProxyInitNetns, DifferentPortsReplaceTheOldRedirect) {
  ASSERT_EQ(run_init(*ns_, {backend_flag()}).exit_code, 0);
  CommandResult r = run_init(*ns_, {backend_flag()},
                             ExecOptions().with_env("PROXY_PORT", "9000").with_env("METADATA_PORT", "8080"));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(without_counters(nat()),
            expected_table("-A OUTPUT -d 169.254.169.254/32 -p tcp -m tcp --dport 8080 -j AZWI_PROXY_OUTPUT\n"
                           "-A AZWI_PROXY_OUTPUT -m owner --uid-owner 1501 -j ACCEPT\n"
                           "-A AZWI_PROXY_OUTPUT -j AZWI_PROXY_REDIRECT\n"
                           "-A AZWI_PROXY_REDIRECT -p tcp -j REDIRECT --to-ports 9000\n"));
}

TEST_P(ProxyInitNetns, ForeignRulesSurviveAndCleanupRestoresTheOriginalTable) {
  restore(kForeignRules);
  const std::string original = without_counters(nat());
  ASSERT_NE(original.find("MESH_OUTPUT"), std::string::npos);

  CommandResult install = run_init(*ns_, {backend_flag()});
  ASSERT_EQ(install.exit_code, 0) << describe(install);
  std::string installed = without_counters(nat());
  // Every line of the original table is still there, plus ours.
  std::size_t pos = 0;
  for (std::size_t nl; (nl = original.find('\n', pos)) != std::string::npos; pos = nl + 1) {
    std::string line = original.substr(pos, nl - pos);
    EXPECT_NE(installed.find(line + "\n"), std::string::npos) << "lost: " << line;
  }
  EXPECT_NE(installed.find("-A AZWI_PROXY_REDIRECT -p tcp -j REDIRECT --to-ports 8000\n"), std::string::npos);

  CommandResult cleanup = run_init(*ns_, {backend_flag(), "--cleanup"});
  ASSERT_EQ(cleanup.exit_code, 0) << describe(cleanup);
  EXPECT_EQ(without_counters(nat()), original);
  EXPECT_EQ(without_counters(cleanup.out), original);

  CommandResult again = run_init(*ns_, {backend_flag(), "--cleanup"});
  EXPECT_EQ(again.exit_code, 0) << describe(again);
  EXPECT_NE(again.err.find("nothing to remove"), std::string::npos) << again.err;
  EXPECT_EQ(without_counters(nat()), original);
}

TEST_P(ProxyInitNetns, DryRunChangesNothingAndPrintsAUsableRuleset) {
  ASSERT_EQ(run_init(*ns_, {backend_flag()}, ExecOptions().with_env("PROXY_PORT", "7000")).exit_code, 0);
  const std::string before = without_counters(nat());
  CommandResult r = run_init(*ns_, {backend_flag(), "--dry-run"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(without_counters(nat()), before);
  EXPECT_NE(r.out.find("-D OUTPUT -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j AZWI_PROXY_OUTPUT\n"),
            std::string::npos)
      << r.out;
  // The printed ruleset is exactly what a real run would apply.
  restore(r.out);
  EXPECT_EQ(without_counters(nat()), expected_table(kDefaultRules));
}

TEST_P(ProxyInitNetns, RedirectsMetadataTrafficToTheProxyExceptTheProxysOwn) {
  ns_->add_address("lo", "169.254.169.254/32");
  write_file(ns_->dir() + "/proxy/metadata/whoami", "proxy\n");
  write_file(ns_->dir() + "/imds/metadata/whoami", "imds\n");
  auto proxy = ns_->serve_directory(ns_->dir() + "/proxy", "127.0.0.1", 8000, as_user(1501));
  auto imds = ns_->serve_directory(ns_->dir() + "/imds", "169.254.169.254", 80);
  const auto url = curl("http://169.254.169.254/metadata/whoami");
  auto fetch = [&](uid_t uid) {
    CommandResult r = ns_->exec(url, as_user(uid));
    return r.ok() ? r.out : "error: " + r.describe() + " " + r.err;
  };
  ASSERT_EQ(fetch(1000), "imds\n") << "before proxy-init the application reaches the metadata address itself";

  CommandResult r = run_init(*ns_, {backend_flag()});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(fetch(1000), "proxy\n") << "an application's request goes to the proxy";
  EXPECT_EQ(fetch(0), "proxy\n") << "root is redirected too";
  EXPECT_EQ(fetch(1501), "imds\n") << "the proxy's own request goes through";
  // Only the metadata port is redirected: the proxy port itself is reachable directly.
  CommandResult direct = ns_->exec(curl("http://127.0.0.1:8000/metadata/whoami"), as_user(1000));
  EXPECT_EQ(direct.out, "proxy\n") << describe(direct);

  ASSERT_EQ(run_init(*ns_, {backend_flag(), "--cleanup"}).exit_code, 0);
  EXPECT_EQ(fetch(1000), "imds\n") << "after cleanup nothing is redirected";
}

INSTANTIATE_TEST_SUITE_P(Backends, ProxyInitNetns, testing::Values("nft", "legacy"),
                         [](const testing::TestParamInfo<std::string>& info) { return info.param; });

TEST(ProxyInitNetnsDetect, UsesLegacyWhenThePodAlreadyHasLegacyRules) {
  AZWI_REQUIRE_NETNS();
  if (std::string why = backend_unavailable("legacy"); !why.empty()) GTEST_SKIP() << why;
  Netns ns("pi");
  ns.check({"iptables-legacy", "-t", "filter", "-A", "OUTPUT", "-d", "192.0.2.1", "-j", "DROP"});
  CommandResult r = run_init(ns, {});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.err.find("backend=legacy reason=\"the pod's existing rules are in the legacy backend"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(without_counters(ns.check({"iptables-legacy-save", "-t", "nat"})), expected_table(kDefaultRules));
  EXPECT_EQ(ns.check({"iptables-nft-save", "-t", "nat"}).find("AZWI"), std::string::npos);
}

TEST(ProxyInitNetnsDetect, UsesNftInAFreshPodAndWhenThePodHasNftRules) {
  AZWI_REQUIRE_NETNS();
  Netns fresh("pi");
  CommandResult r = run_init(fresh, {});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.err.find("backend=nft reason=\"no existing rules in either backend"), std::string::npos) << r.err;
  EXPECT_EQ(without_counters(fresh.check({"iptables-nft-save", "-t", "nat"})), expected_table(kDefaultRules));

  Netns with_nft("pi");
  with_nft.check({"iptables-nft", "-t", "filter", "-A", "OUTPUT", "-d", "192.0.2.1", "-j", "DROP"});
  r = run_init(with_nft, {});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.err.find("backend=nft reason=\"the pod's existing rules are in the nft backend"), std::string::npos)
      << r.err;
}

TEST(ProxyInitNetnsErrors, WithoutNetAdminFailsClearlyAndChangesNothing) {
  AZWI_REQUIRE_NETNS();
  Netns ns("pi");
  CommandResult r = run_init(ns, {}, ExecOptions().without_net_admin());
  EXPECT_EQ(r.status, CommandResult::Status::exited);
  EXPECT_EQ(r.exit_code, 3) << describe(r);
  EXPECT_NE(r.err.find("NET_ADMIN capability is missing"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("capabilities: {add: [NET_ADMIN]}"), std::string::npos) << r.err;
  EXPECT_EQ(without_counters(ns.check({"iptables-nft-save", "-t", "nat"})), kEmptyTable);

  // A dry run still shows what would be installed.
  CommandResult dry = run_init(ns, {"--dry-run"}, ExecOptions().without_net_admin());
  EXPECT_EQ(dry.exit_code, 0) << describe(dry);
  EXPECT_NE(dry.out.find("-A AZWI_PROXY_REDIRECT -p tcp -j REDIRECT --to-ports 8000"), std::string::npos) << dry.out;
}

TEST(ProxyInitNetnsErrors, WithoutIptablesNamesThePackage) {
  AZWI_REQUIRE_NETNS();
  Netns ns("pi");
  CommandResult r = run_init(ns, {}, ExecOptions().with_env("PATH", ns.dir() + "/empty-bin"));
  EXPECT_EQ(r.exit_code, 3) << describe(r);
  EXPECT_NE(r.err.find("iptables is not installed"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("apt-get install iptables"), std::string::npos) << r.err;

  r = run_init(ns, {"--iptables-backend=legacy"}, ExecOptions().with_env("PATH", ns.dir() + "/empty-bin"));
  EXPECT_EQ(r.exit_code, 3) << describe(r);
  EXPECT_NE(r.err.find("iptables-legacy-save not found in PATH"), std::string::npos) << r.err;
}

TEST(ProxyInitNetnsErrors, InvalidSettingsNameTheVariableOrFlag) {
  AZWI_REQUIRE_NETNS();
  Netns ns("pi");
  CommandResult r = run_init(ns, {}, ExecOptions().with_env("PROXY_PORT", "70000"));
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_NE(r.err.find("PROXY_PORT"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("1..65535"), std::string::npos) << r.err;

  r = run_init(ns, {}, ExecOptions().with_env("METADATA_IP", "metadata"));
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_NE(r.err.find("METADATA_IP"), std::string::npos) << r.err;

  r = run_init(ns, {"--iptables-backend=xtables"});
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_NE(r.err.find("--iptables-backend"), std::string::npos) << r.err;

  r = run_init(ns, {"--no-such-flag"});
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_EQ(without_counters(ns.check({"iptables-nft-save", "-t", "nat"})), kEmptyTable);
}

TEST(ProxyInitBinary, VersionAndHelp) {
  CommandResult v = azwi::netredirect::run_command({PROXY_INIT_BIN, "--version"});
  EXPECT_TRUE(v.ok());
  EXPECT_EQ(v.out.rfind("azwi-proxy-init ", 0), 0u) << v.out;
  CommandResult h = azwi::netredirect::run_command({PROXY_INIT_BIN, "--help"});
  EXPECT_TRUE(h.ok());
  for (const char* word : {"--dry-run", "--cleanup", "--iptables-backend", "--log-format", "--log-level", "--version",
                           "PROXY_PORT", "METADATA_IP", "METADATA_PORT", "PROXY_UID"})
    EXPECT_NE(h.out.find(word), std::string::npos) << word;
}
