// The node agent against directories of the test's own: what it writes, that it keeps it there, and that it
// takes everything away when stopped.
#include "cni/installer.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <boost/json/parse.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "cni/conflist.hpp"
#include "kube/cluster_config.hpp"

using namespace azwi::cni;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}
void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

const char* const kPrimary = R"({"cniVersion":"0.4.0","name":"k8s","plugins":[{"type":"bridge"},{"type":"portmap"}]})";

class CniInstaller : public testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/azwi-cni-installer-XXXXXX";
    root_ = mkdtemp(tmpl);
    for (const char* d : {"bin", "net.d", "account"}) fs::create_directories(root_ / d);
    write(root_ / "plugin", "#!/bin/sh\necho plugin v1\n");
    write(root_ / "account/token", "header.payload.signature");
    write(root_ / "account/ca.crt", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    write(root_ / "net.d/10-k8s.conflist", kPrimary);
    options_.binary = root_ / "plugin";
    options_.bin_dir = root_ / "bin";
    options_.conf_dir = root_ / "net.d";
    options_.host_conf_dir = "/etc/cni/net.d";
    options_.account_dir = root_ / "account";
    options_.api_server = "https://10.96.0.1:443";
    options_.exclude_namespaces = {"kube-system"};
    options_.interval = std::chrono::milliseconds(100);
    azwi::log::configure(azwi::log::Level::error, azwi::log::Format::text);
  }
  void TearDown() override { fs::remove_all(root_); }
  // The chain the runtime reads: the first configuration file by name.
  json::array chain() {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(root_ / "net.d")) names.push_back(e.path().filename().string());
    auto first = chosen_config(names);
    return first ? json::parse(read(root_ / "net.d" / *first)).at("plugins").as_array() : json::array();
  }

  fs::path root_;
  InstallerOptions options_;
};

}  // namespace

TEST_F(CniInstaller, SyncInstallsTheBinaryTheKubeconfigAndTheChainEntry) {
  Installer installer(options_, azwi::log::Logger("t"));
  ASSERT_EQ(installer.sync(), "");
  EXPECT_EQ(read(root_ / "bin/azwi-cni"), read(root_ / "plugin"));
  EXPECT_EQ(fs::status(root_ / "bin/azwi-cni").permissions() & fs::perms::owner_exec, fs::perms::owner_exec);
  json::array plugins = chain();
  ASSERT_EQ(plugins.size(), 3u);
  EXPECT_EQ(plugins[2].at("type"), "azwi-cni");
  EXPECT_EQ(plugins[2].at("kubeconfig"), "/etc/cni/net.d/azwi-cni.kubeconfig");  // as the node sees it
  EXPECT_EQ(plugins[2].at("excludeNamespaces").at(0), "kube-system");
  // The kubeconfig is the agent's: readable by root only, and one the project's client reads.
  fs::path kc = root_ / "net.d/azwi-cni.kubeconfig";
  EXPECT_EQ(fs::status(kc).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
  auto config = azwi::kube::kubeconfig_config(kc.string());
  EXPECT_EQ(config.server, "https://10.96.0.1:443");
  EXPECT_EQ(config.token, "header.payload.signature");
  EXPECT_EQ(config.ca_pem, read(root_ / "account/ca.crt"));
}

TEST_F(CniInstaller, ThePrimarysFileIsLeftAloneAndARewriteOfItCannotDropAzwiCni) {
  Installer installer(options_, azwi::log::Logger("t"));
  ASSERT_EQ(installer.sync(), "");
  EXPECT_EQ(read(root_ / "net.d/10-k8s.conflist"), kPrimary);
  auto before = fs::last_write_time(root_ / "net.d/00-azwi-cni.conflist");
  ASSERT_EQ(installer.sync(), "");
  EXPECT_EQ(fs::last_write_time(root_ / "net.d/00-azwi-cni.conflist"), before) << "an unchanged file is not rewritten";
  // The primary CNI rewrites its configuration with a new plugin: the chain follows, azwi-cni still last.
  write(root_ / "net.d/10-k8s.conflist",
        R"({"cniVersion":"0.4.0","name":"k8s","plugins":[{"type":"bridge"},{"type":"portmap"},{"type":"bandwidth"}]})");
  EXPECT_EQ(chain().back().at("type"), "azwi-cni") << "the runtime's chain has azwi-cni before the agent ran again";
  ASSERT_EQ(installer.sync(), "");
  ASSERT_EQ(chain().size(), 4u);
  EXPECT_EQ(chain()[2].at("type"), "bandwidth");
  // Its own file removed (by hand): written again.
  fs::remove(root_ / "net.d/00-azwi-cni.conflist");
  ASSERT_EQ(installer.sync(), "");
  EXPECT_EQ(chain().back().at("type"), "azwi-cni");
}

TEST_F(CniInstaller, SyncFollowsTheRotatedToken) {
  Installer installer(options_, azwi::log::Logger("t"));
  ASSERT_EQ(installer.sync(), "");
  write(root_ / "account/token", "rotated.token.value");
  ASSERT_EQ(installer.sync(), "");
  EXPECT_EQ(azwi::kube::kubeconfig_config((root_ / "net.d/azwi-cni.kubeconfig").string()).token, "rotated.token.value");
}

TEST_F(CniInstaller, ASinglePluginConfIsChainedToo) {
  fs::remove(root_ / "net.d/10-k8s.conflist");
  write(root_ / "net.d/10-k8s.conf", R"({"cniVersion":"0.3.1","name":"k8s","type":"bridge"})");
  Installer installer(options_, azwi::log::Logger("t"));
  ASSERT_EQ(installer.sync(), "");
  EXPECT_TRUE(fs::exists(root_ / "net.d/10-k8s.conf"));
  EXPECT_EQ(chain().size(), 2u);
}

TEST_F(CniInstaller, APrimaryFileTheRuntimeReadsBeforeOursIsAProblem) {
  fs::rename(root_ / "net.d/10-k8s.conflist", root_ / "net.d/00-aaa.conflist");
  Installer installer(options_, azwi::log::Logger("t"));
  std::string problem = installer.sync();
  EXPECT_NE(problem.find("sorts before 00-azwi-cni.conflist"), std::string::npos) << problem;
}

TEST_F(CniInstaller, NoConfigurationYetIsAProblemThatSaysWhatIsMissing) {
  fs::remove(root_ / "net.d/10-k8s.conflist");
  Installer installer(options_, azwi::log::Logger("t"));
  std::string problem = installer.sync();
  EXPECT_NE(problem.find("no network configuration"), std::string::npos) << problem;
  fs::remove(root_ / "account/token");
  EXPECT_NE(installer.sync().find("token"), std::string::npos);
}

TEST_F(CniInstaller, StoppingRemovesEverythingItAdded) {
  std::atomic<bool> stop{false};
  int code = -1;
  auto gone = [](std::string* why) {
    *why = "the DaemonSet is gone";
    return false;
  };
  std::thread agent([&] { code = run_installer(options_, stop, gone, azwi::log::Logger("t")); });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (chain().size() != 3u && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(chain().size(), 3u);
  stop = true;
  agent.join();
  EXPECT_EQ(code, 0);
  EXPECT_EQ(read(root_ / "net.d/10-k8s.conflist"), kPrimary);
  EXPECT_EQ(chain().size(), 2u) << "the runtime reads the primary's chain again";
  EXPECT_FALSE(fs::exists(root_ / "net.d/00-azwi-cni.conflist"));
  EXPECT_FALSE(fs::exists(root_ / "bin/azwi-cni"));
  EXPECT_FALSE(fs::exists(root_ / "net.d/azwi-cni.kubeconfig"));
}

TEST_F(CniInstaller, StoppingWhileTheDaemonSetStaysLeavesEverythingForTheNextPod) {
  std::atomic<bool> stop{false};
  int code = -1;
  bool asked = false;
  auto stays = [&](std::string* why) {
    asked = true;
    *why = "the DaemonSet stays";
    return true;
  };
  std::thread agent([&] { code = run_installer(options_, stop, stays, azwi::log::Logger("t")); });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (chain().size() != 3u && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  stop = true;
  agent.join();
  EXPECT_TRUE(asked);
  EXPECT_EQ(code, 0);
  EXPECT_EQ(chain().size(), 3u) << "a rolling update never leaves the node without the plugin";
  EXPECT_TRUE(fs::exists(root_ / "bin/azwi-cni"));
  EXPECT_TRUE(fs::exists(root_ / "net.d/azwi-cni.kubeconfig"));
}
