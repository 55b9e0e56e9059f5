// The real azwi-cni binary driven as a container runtime drives it (the spec's environment, the configuration on
// stdin), against the stand-in API server, in network namespaces the test creates (root; skipped otherwise).
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <string>
#include <vector>

#include "netns.hpp"
#include "support.hpp"

using namespace azwi::netns;
namespace json = boost::json;
namespace support = azwi::testing;
using namespace std::chrono_literals;

namespace {

const char* const kToken = "node-agent-token";

struct Cni {
  int exit_code;
  std::string out;
  std::string err;
  json::value reply() const { return out.empty() ? json::value() : json::parse(out); }
};

class CniNetns : public testing::Test {
 protected:
  void SetUp() override {
    AZWI_REQUIRE_NETNS();
    pod_ = std::make_unique<Netns>("cni");
    if (!pod_->exec({"iptables-nft-save", "-t", "nat"}).ok()) GTEST_SKIP() << "iptables-nft does not work here";
    dir_ = support::make_temp_dir("azwi-cni-netns");
    support::make_ca(dir_);
    support::make_cert(dir_, "server", "localhost");
    api_ = std::make_unique<support::FakeApiServer>(dir_, std::vector<std::string>{"--token", kToken});
    kubeconfig_ = dir_ + "/azwi-cni.kubeconfig";
    support::write_file(kubeconfig_, support::kubeconfig_yaml(api_->url(), dir_ + "/ca.crt",
                                                              std::string("    token: ") + kToken + "\n"));
    pod_->add_address("lo", "169.254.169.254/32");
  }
  void TearDown() override {
    api_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  void create_pod(const std::string& name, const std::string& annotations) {
    std::string body = R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")" + name +
                       R"(","namespace":"apps","annotations":)" + annotations + "}}";
    azwi::netredirect::CommandOptions o;
    o.input = body;
    auto r = azwi::netredirect::run_command({"curl", "-q", "-sS", "--fail", "--noproxy", "*", "--cacert",
                                             dir_ + "/ca.crt", "-H", std::string("Authorization: Bearer ") + kToken,
                                             "-H", "Content-Type: application/json", "--data-binary", "@-",
                                             api_->url() + "/api/v1/namespaces/apps/pods"},
                                            o);
    ASSERT_TRUE(r.ok()) << r.describe() << r.out << r.err;
  }

  Cni cni(const std::string& command, const std::string& pod_name, std::string netns = "") {
    if (netns.empty()) netns = "/run/netns/" + pod_->name();
    std::string config = R"({"cniVersion":"0.4.0","name":"k8s","type":"azwi-cni","kubeconfig":")" + kubeconfig_ +
                         R"(","prevResult":{"cniVersion":"0.4.0","interfaces":[{"name":"eth0"}],)"
                         R"("ips":[{"version":"4","address":"10.244.0.9/24"}]}})";
    azwi::netredirect::CommandOptions o;
    o.input = config;
    o.timeout = 30s;
    auto r = azwi::netredirect::run_command(
        {"env", "CNI_COMMAND=" + command, "CNI_CONTAINERID=0123abcd", "CNI_NETNS=" + netns, "CNI_IFNAME=eth0",
         "CNI_PATH=/opt/cni/bin", "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=apps;K8S_POD_NAME=" + pod_name, CNI_BIN},
        o);
    return {r.status == azwi::netredirect::CommandResult::Status::exited ? r.exit_code : -1, r.out, r.err};
  }

  std::string nat() const { return pod_->check({"iptables-nft-save", "-t", "nat"}); }

  // What an application in the pod (UID 1000) gets from the metadata address.
  azwi::netredirect::CommandResult app_asks_imds() const {
    return pod_->exec({"curl", "-q", "-sS", "--noproxy", "*", "--max-time", "5",
                       "http://169.254.169.254/metadata/identity/oauth2/token"},
                      as_user(1000));
  }

  std::unique_ptr<Netns> pod_;
  std::string dir_;
  std::unique_ptr<support::FakeApiServer> api_;
  std::string kubeconfig_;
};

}  // namespace

TEST_F(CniNetns, APodInCniModeReachesItsSidecarThroughTheMetadataAddress) {
  create_pod("web-0", R"({"azure.workload.identity/proxy-sidecar-mode":"cni"})");
  // The "sidecar": a server on the pod's loopback, port 8000, serving the token path.
  std::string root = pod_->dir() + "/www";
  write_file(root + "/metadata/identity/oauth2/token", "token from the sidecar\n");
  auto sidecar = pod_->serve_directory(root, "127.0.0.1", 8000);
  EXPECT_FALSE(app_asks_imds().ok()) << "nothing answers 169.254.169.254 before the plugin ran";

  Cni add = cni("ADD", "web-0");
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_EQ(add.reply().at("ips").at(0).at("address"), "10.244.0.9/24") << "prevResult passes through";
  auto r = app_asks_imds();
  ASSERT_TRUE(r.ok()) << r.describe() << r.err;
  EXPECT_EQ(r.out, "token from the sidecar\n");
  EXPECT_NE(nat().find("-A AZWI_PROXY_OUTPUT -m owner --uid-owner 1501 -j ACCEPT"), std::string::npos);

  // ADD again (a runtime retry) stacks nothing; CHECK finds the rules; DEL succeeds.
  ASSERT_EQ(cni("ADD", "web-0").exit_code, 0);
  std::string table = nat();
  std::size_t jumps = 0;
  for (auto p = table.find("-j AZWI_PROXY_OUTPUT"); p != std::string::npos; p = table.find("-j AZWI_PROXY_OUTPUT", p + 1))
    ++jumps;
  EXPECT_EQ(jumps, 1u) << table;
  Cni check = cni("CHECK", "web-0");
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_EQ(cni("DEL", "web-0").exit_code, 0);
}

TEST_F(CniNetns, APodWithoutTheModeSeesNoRule) {
  create_pod("plain", R"({"azure.workload.identity/inject-proxy-sidecar":"true"})");
  Cni add = cni("ADD", "plain");
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_EQ(nat().find("AZWI"), std::string::npos) << nat();
}

TEST_F(CniNetns, AnApiServerThatCannotBeAskedFailsTheSandboxAndInstallsNothing) {
  create_pod("web-1", R"({"azure.workload.identity/proxy-sidecar-mode":"cni"})");
  api_->process().stop();
  Cni add = cni("ADD", "web-1");
  EXPECT_NE(add.exit_code, 0);
  json::value reply = add.reply();
  EXPECT_EQ(reply.at("code"), 11) << add.out;
  EXPECT_NE(std::string(reply.at("msg").as_string()).find("apps/web-1"), std::string::npos) << add.out;
  EXPECT_EQ(nat().find("AZWI"), std::string::npos);
  EXPECT_EQ(add.err.find(kToken), std::string::npos) << "the credential never reaches the log";
}

TEST_F(CniNetns, DelSucceedsWhenTheNamespaceIsGoneAndVersionAnswers) {
  api_->process().stop();
  EXPECT_EQ(cni("DEL", "gone", "/run/netns/azwi-does-not-exist").exit_code, 0);
  Cni version = cni("VERSION", "");
  ASSERT_EQ(version.exit_code, 0) << version.err;
  EXPECT_EQ(version.reply().at("cniVersion"), "0.4.0");
}

// Without CNI_COMMAND the binary is the node agent's command line (no root needed).
TEST(CniBinary, VersionHelpAndUsage) {
  auto version = azwi::netredirect::run_command({"env", "-u", "CNI_COMMAND", CNI_BIN, "--version"});
  EXPECT_EQ(version.out, std::string("azwi-cni ") + AZWI_VERSION + "\n");
  auto help = azwi::netredirect::run_command({"env", "-u", "CNI_COMMAND", CNI_BIN, "--help"});
  EXPECT_TRUE(help.ok());
  for (const char* flag : {"--cni-bin-dir", "--cni-conf-dir", "--host-cni-conf-dir", "--exclude-namespaces",
                           "--daemonset", "--interval", "CNI_COMMAND"})
    EXPECT_NE(help.out.find(flag), std::string::npos) << flag;
  auto bare = azwi::netredirect::run_command({"env", "-u", "CNI_COMMAND", CNI_BIN});
  EXPECT_EQ(bare.exit_code, 2);
  EXPECT_NE(bare.err.find("azwi-cni install"), std::string::npos) << bare.err;
}
