// The harness itself: namespaces appear and disappear, commands run inside as the requested UID and capabilities,
// veth pairs connect two namespaces, and nothing is left behind when a test process dies.
#include "netns.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

using namespace azwi::netns;
using namespace std::chrono_literals;

namespace {

bool namespace_exists(const std::string& name) { return std::filesystem::exists("/run/netns/" + name); }

std::string curl_args_note() { return "curl -q ignores ~/.curlrc; --noproxy '*' ignores proxy variables of CI"; }

std::vector<std::string> curl(const std::string& url) {
  return {"curl", "-q", "-sS", "--noproxy", "*", "--max-time", "5", url};
}

}  // namespace

TEST(NetnsHarness, CreatesANamedNamespaceWithLoopbackUpAndDeletesIt) {
  AZWI_REQUIRE_NETNS();
  std::string name;
  {
    Netns ns("h");
    name = ns.name();
    EXPECT_EQ(name.rfind("azwi-h-" + std::to_string(::getpid()) + "-", 0), 0u) << name;
    EXPECT_TRUE(namespace_exists(name));
    std::string lo = ns.check({"ip", "-o", "link", "show", "lo"});
    EXPECT_NE(lo.find("UP"), std::string::npos) << lo;
    EXPECT_TRUE(std::filesystem::is_directory(ns.dir()));
  }
  EXPECT_FALSE(namespace_exists(name));
}

TEST(NetnsHarness, NamespacesAreIsolatedFromEachOther) {
  AZWI_REQUIRE_NETNS();
  Netns a("h"), b("h");
  EXPECT_NE(a.name(), b.name());
  a.add_address("lo", "10.66.0.1/32");
  EXPECT_NE(a.check({"ip", "-o", "addr"}).find("10.66.0.1/32"), std::string::npos);
  EXPECT_EQ(b.check({"ip", "-o", "addr"}).find("10.66.0.1"), std::string::npos);
}

TEST(NetnsHarness, ExecRunsAsTheRequestedUidAndGid) {
  AZWI_REQUIRE_NETNS();
  Netns ns("h");
  EXPECT_EQ(ns.check({"id", "-u"}, as_user(1234)), "1234\n");
  EXPECT_EQ(ns.check({"id", "-g"}, as_user(1234)), "1234\n");
  EXPECT_EQ(ns.check({"id", "-g"}, as_user(1234, 99)), "99\n");
  EXPECT_EQ(ns.check({"id", "-u"}), "0\n");
}

TEST(NetnsHarness, DropNetAdminRemovesTheCapability) {
  AZWI_REQUIRE_NETNS();
  Netns ns("h");
  CommandResult r = ns.exec({"ip", "addr", "add", "10.1.1.1/32", "dev", "lo"}, ExecOptions().without_net_admin());
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.err.find("Operation not permitted"), std::string::npos) << r.err;
  auto effective = [&](const ExecOptions& o) {
    std::string line = ns.check({"grep", "CapEff", "/proc/self/status"}, o);
    return std::stoull(line.substr(line.find(':') + 1), nullptr, 16);
  };
  const unsigned long long net_admin = 1ULL << 12, sys_admin = 1ULL << 21;
  EXPECT_EQ(effective(ExecOptions().without_net_admin()) & (net_admin | sys_admin), sys_admin);
  EXPECT_EQ(effective(ExecOptions()) & (net_admin | sys_admin), net_admin | sys_admin);
  EXPECT_TRUE(ns.exec({"ip", "addr", "add", "10.1.1.2/32", "dev", "lo"}).ok());
}

TEST(NetnsHarness, ExecPassesEnvironmentAndStdinAndBoundsTime) {
  AZWI_REQUIRE_NETNS();
  Netns ns("h");
  EXPECT_EQ(ns.check({"sh", "-c", "echo $AZWI_X"}, ExecOptions().with_env("AZWI_X", "hello")), "hello\n");
  EXPECT_EQ(ns.check({"cat"}, ExecOptions().with_input("abc")), "abc");
  auto start = std::chrono::steady_clock::now();
  CommandResult r = ns.exec({"sleep", "30"}, ExecOptions().with_timeout(300ms));
  EXPECT_EQ(r.status, CommandResult::Status::timed_out);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(NetnsHarness, VethPairConnectsTwoNamespaces) {
  AZWI_REQUIRE_NETNS();
  Netns node("node"), pod("pod");
  create_veth_pair(node, "veth-n", "10.77.0.1/24", pod, "veth-p", "10.77.0.2/24");
  write_file(node.dir() + "/www/hello.txt", "from the node\n");
  auto server = node.serve_directory(node.dir() + "/www", "10.77.0.1", 8080, as_user(4000));
  SCOPED_TRACE(curl_args_note());
  CommandResult r = pod.exec(curl("http://10.77.0.1:8080/hello.txt"), as_user(1000));
  EXPECT_TRUE(r.ok()) << r.describe() << r.err << server->output();
  EXPECT_EQ(r.out, "from the node\n");
  // The pod's own loopback is separate: nothing listens there.
  EXPECT_FALSE(pod.exec(curl("http://127.0.0.1:8080/hello.txt")).ok());
}

TEST(NetnsHarness, SpawnedProcessesStopWithTheNamespace) {
  AZWI_REQUIRE_NETNS();
  std::shared_ptr<Process> p;
  {
    Netns ns("h");
    p = ns.spawn({"sleep", "600"});
    EXPECT_TRUE(p->running());
  }
  EXPECT_FALSE(p->running());
}

TEST(NetnsHarness, ProcessReportsExitCodeAndOutput) {
  AZWI_REQUIRE_NETNS();
  Netns ns("h");
  auto p = ns.spawn({"sh", "-c", "echo visible; echo also >&2; exit 7"});
  EXPECT_EQ(p->wait(10s), 7);
  EXPECT_EQ(p->output(), "visible\nalso\n");
}

TEST(NetnsHarness, StaleNamespaceOfADeadProcessIsRemoved) {
  AZWI_REQUIRE_NETNS();
  pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ::waitpid(dead, nullptr, 0);
  std::string name = "azwi-stale-" + std::to_string(dead) + "-1";
  ASSERT_TRUE(azwi::netredirect::run_command({"ip", "netns", "add", name}).ok());
  remove_stale_namespaces();
  bool gone = !namespace_exists(name);
  if (!gone) azwi::netredirect::run_command({"ip", "netns", "del", name});
  EXPECT_TRUE(gone);
}

TEST(NetnsHarness, NamespaceIsDeletedWhenTheTestProcessIsKilledBySignal) {
  AZWI_REQUIRE_NETNS();
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t child = ::fork();
  if (child == 0) {
    ::close(fds[0]);
    Netns ns("sig");
    ns.spawn({"sleep", "600"});
    std::string name = ns.name() + "\n";
    (void)!::write(fds[1], name.data(), name.size());
    ::raise(SIGTERM);
    ::_exit(0);  // not reached
  }
  ::close(fds[1]);
  char buf[128] = {};
  ssize_t n = ::read(fds[0], buf, sizeof buf - 1);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_GT(n, 0);
  std::string name(buf, static_cast<std::size_t>(n - 1));
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
  bool gone = !namespace_exists(name);
  if (!gone) azwi::netredirect::run_command({"ip", "netns", "del", name});
  EXPECT_TRUE(gone) << name;
  // The handler cannot remove the scratch directory; the sweep of the next run does.
  auto scratch_dirs = [&] {
    int n = 0;
    for (const auto& e : std::filesystem::directory_iterator("/tmp"))
      n += e.path().filename().string().rfind(name + "-", 0) == 0;
    return n;
  };
  EXPECT_EQ(scratch_dirs(), 1);
  remove_stale_namespaces();
  EXPECT_EQ(scratch_dirs(), 0);
}
