// azwi-cni's commands against an injected host: which pods get the redirect, what passes through, and how every
// failure reads in the CNI error shape.
#include "cni/plugin.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <map>

#include "netredirect/plan.hpp"

using namespace azwi::cni;
namespace json = boost::json;
namespace nr = azwi::netredirect;

namespace {

const char* const kEmptyNat = "*nat\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n";

nr::CommandResult exited(int code, std::string out = "", std::string err = "") {
  nr::CommandResult r;
  r.status = nr::CommandResult::Status::exited;
  r.exit_code = code;
  r.out = std::move(out);
  r.err = std::move(err);
  return r;
}

// A node: an API server with some pods, network namespaces, and one pod's nat table behind iptables-nft.
struct FakeNode {
  std::map<std::string, std::string> pods;  // "ns/name" -> pod JSON
  PodLookup::Status api = PodLookup::Status::found;
  std::string entered;       // the namespace the plugin moved into
  bool netns_exists = true;
  std::string nat = kEmptyNat;
  int restores = 0;
  bool restore_fails = false;
  int lookups = 0;

  PluginHost host() {
    PluginHost h;
    h.get_pod = [this](const std::string& kubeconfig, const std::string& ns, const std::string& name) {
      ++lookups;
      PodLookup l;
      l.status = api;
      if (api != PodLookup::Status::found) {
        l.error = api == PodLookup::Status::failed ? "connect: Connection refused" : "HTTP 403: forbidden";
        return l;
      }
      auto it = pods.find(ns + "/" + name);
      if (it == pods.end()) return PodLookup{PodLookup::Status::refused, {}, "HTTP 404: pods \"" + name + "\" not found"};
      l.pod = json::parse(it->second);
      return l;
    };
    h.enter_netns = [this](const std::string& path) -> std::string {
      if (!netns_exists) return "No such file or directory";
      entered = path;
      return "";
    };
    h.redirect.has_net_admin = [] { return true; };
    h.redirect.run = [this](const std::vector<std::string>& argv, const std::string& input) {
      if (argv[0] == "iptables-legacy-save") return exited(0, "");
      if (argv[0] == "iptables-nft-save") return exited(0, nat);
      if (argv[0] == "iptables-nft-restore") {
        ++restores;
        if (restore_fails) return exited(1, "", "iptables-restore: line 3 failed");
        nat = "*nat\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:AZWI_PROXY_OUTPUT - [0:0]\n"
              ":AZWI_PROXY_REDIRECT - [0:0]\n";
        nr::Config c;
        if (input.find("--to-ports 8123") != std::string::npos) c.proxy_port = 8123;
        for (const auto& r : nr::desired_rules(c)) nat += r + "\n";
        nat += "COMMIT\n";
        return exited(0);
      }
      nr::CommandResult r;
      r.status = nr::CommandResult::Status::spawn_failed;
      r.spawn_errno = ENOENT;
      return r;
    };
    return h;
  }
};

std::string pod(const std::string& annotations) {
  return R"({"metadata":{"name":"web-0","namespace":"apps","annotations":)" + annotations + "}}";
}
const std::string kCniPod = pod(R"({"azure.workload.identity/proxy-sidecar-mode":"cni"})");

const char* const kPrevResult = R"({"cniVersion":"0.4.0","interfaces":[{"name":"eth0"}],"ips":[{"version":"4","address":"10.244.0.7/24"}]})";

Request request(Command command, std::string extra_config = "") {
  Request r;
  r.command = command;
  r.container_id = "c0ffee";
  r.netns = "/var/run/netns/cni-42";
  r.ifname = "eth0";
  r.args = {{"K8S_POD_NAMESPACE", "apps"}, {"K8S_POD_NAME", "web-0"}};
  r.cni_version = "0.4.0";
  std::string text = R"({"cniVersion":"0.4.0","name":"k8s","type":"azwi-cni","kubeconfig":"/etc/cni/net.d/k")" +
                     extra_config + R"(,"prevResult":)" + kPrevResult + "}";
  r.config = json::parse(text).as_object();
  r.prev_result = r.config.at("prevResult");
  return r;
}

struct Ran {
  Reply reply;
  json::value out;  // parsed stdout (null when empty)
};

Ran run(FakeNode& node, const Request& r) {
  azwi::log::configure(azwi::log::Level::error, azwi::log::Format::text);
  testing::internal::CaptureStderr();
  Ran ran{run_plugin(r, node.host(), azwi::log::Logger("azwi-cni")), nullptr};
  testing::internal::GetCapturedStderr();
  if (!ran.reply.out.empty()) ran.out = json::parse(ran.reply.out);
  return ran;
}

}  // namespace

TEST(CniPlugin, AddForAPodInCniModeInstallsTheRedirectInItsNamespaceAndPassesThePreviousResult) {
  FakeNode node;
  node.pods["apps/web-0"] = kCniPod;
  Ran ran = run(node, request(Command::add));
  EXPECT_EQ(ran.reply.exit_code, 0) << ran.reply.out;
  EXPECT_EQ(node.entered, "/var/run/netns/cni-42");
  EXPECT_EQ(node.restores, 1);
  EXPECT_TRUE(nr::is_installed({}, std::get<nr::NatTable>(nr::parse_nat_table(node.nat))));
  EXPECT_EQ(ran.out, json::parse(kPrevResult));
}

TEST(CniPlugin, AddTwiceChangesNothingTheSecondTime) {
  FakeNode node;
  node.pods["apps/web-0"] = kCniPod;
  run(node, request(Command::add));
  Ran again = run(node, request(Command::add));
  EXPECT_EQ(again.reply.exit_code, 0);
  EXPECT_EQ(node.restores, 1);
}

TEST(CniPlugin, PodsThatDidNotAskAreUntouched) {
  for (std::string p : {pod("{}"), pod(R"({"azure.workload.identity/proxy-sidecar-mode":"init-container"})"),
                        std::string(R"({"metadata":{"name":"web-0"}})")}) {
    FakeNode node;
    node.pods["apps/web-0"] = p;
    Ran ran = run(node, request(Command::add));
    EXPECT_EQ(ran.reply.exit_code, 0) << p;
    EXPECT_EQ(ran.out, json::parse(kPrevResult));
    EXPECT_EQ(node.entered, "") << "the pod's namespace was entered for " << p;
    EXPECT_EQ(node.restores, 0);
  }
}

TEST(CniPlugin, ThePortAnnotationIsTheRedirectTarget) {
  FakeNode node;
  node.pods["apps/web-0"] = pod(R"({"azure.workload.identity/proxy-sidecar-mode":"cni","azure.workload.identity/proxy-sidecar-port":"8123"})");
  EXPECT_EQ(run(node, request(Command::add)).reply.exit_code, 0);
  EXPECT_NE(node.nat.find("--to-ports 8123"), std::string::npos) << node.nat;
}

TEST(CniPlugin, AnApiServerThatCannotBeAskedFailsTheSandboxWithTryAgainLater) {
  FakeNode node;
  node.api = PodLookup::Status::failed;
  Ran ran = run(node, request(Command::add));
  EXPECT_NE(ran.reply.exit_code, 0);
  EXPECT_EQ(ran.out.at("code"), kTryAgainLater);
  EXPECT_EQ(ran.out.at("cniVersion"), "0.4.0");
  std::string msg(ran.out.at("msg").as_string());
  EXPECT_NE(msg.find("apps/web-0"), std::string::npos) << msg;
  EXPECT_NE(msg.find("Connection refused"), std::string::npos) << msg;
  EXPECT_EQ(node.entered, "");
}

TEST(CniPlugin, ARefusalOrAMissingPodIsAnErrorThatNamesTheRole) {
  FakeNode forbidden;
  forbidden.api = PodLookup::Status::refused;
  Ran ran = run(forbidden, request(Command::add));
  EXPECT_EQ(ran.out.at("code"), kPodUnreadable);
  EXPECT_NE(std::string(ran.out.at("details").as_string()).find("get on pods"), std::string::npos);
  FakeNode empty;
  Ran missing = run(empty, request(Command::add));
  EXPECT_EQ(missing.out.at("code"), kPodUnreadable);
  EXPECT_NE(std::string(missing.out.at("msg").as_string()).find("not found"), std::string::npos);
}

TEST(CniPlugin, AFailedRedirectFailsTheSandbox) {
  FakeNode node;
  node.pods["apps/web-0"] = kCniPod;
  node.restore_fails = true;
  Ran ran = run(node, request(Command::add));
  EXPECT_EQ(ran.out.at("code"), kRedirectFailed);
  EXPECT_NE(std::string(ran.out.at("msg").as_string()).find("line 3 failed"), std::string::npos) << ran.reply.out;
  FakeNode gone;
  gone.pods["apps/web-0"] = kCniPod;
  gone.netns_exists = false;
  EXPECT_EQ(run(gone, request(Command::add)).out.at("code"), kIoFailure);
}

TEST(CniPlugin, AddWithoutAPreviousResultSaysItMustBeChained) {
  FakeNode node;
  Request r = request(Command::add);
  r.prev_result.reset();
  Ran ran = run(node, r);
  EXPECT_EQ(ran.out.at("code"), kInvalidNetworkConfig);
  EXPECT_NE(std::string(ran.out.at("msg").as_string()).find("chained"), std::string::npos);
}

TEST(CniPlugin, NonKubernetesContainersAndExcludedNamespacesPassWithoutAsking) {
  FakeNode node;
  Request bare = request(Command::add);
  bare.args.clear();
  EXPECT_EQ(run(node, bare).out, json::parse(kPrevResult));
  Request excluded = request(Command::add, R"(,"excludeNamespaces":["kube-system","apps"])");
  node.api = PodLookup::Status::failed;  // would fail if asked
  EXPECT_EQ(run(node, excluded).reply.exit_code, 0);
  EXPECT_EQ(node.lookups, 0);
}

TEST(CniPlugin, CheckVerifiesTheRulesOfPodsInCniMode) {
  FakeNode node;
  node.pods["apps/web-0"] = kCniPod;
  Ran missing = run(node, request(Command::check));
  EXPECT_EQ(missing.out.at("code"), kRedirectFailed);
  EXPECT_EQ(node.restores, 0) << "CHECK changes nothing";
  run(node, request(Command::add));
  Ran present = run(node, request(Command::check));
  EXPECT_EQ(present.reply.exit_code, 0) << present.reply.out;
  Request old = request(Command::check);
  old.cni_version = "0.3.1";
  EXPECT_EQ(run(node, old).out.at("code"), kIncompatibleVersion);
}

TEST(CniPlugin, DelSucceedsWithoutTheNamespaceOrTheApiServer) {
  FakeNode node;
  node.api = PodLookup::Status::failed;
  node.netns_exists = false;
  Request r = request(Command::del);
  r.netns.clear();
  Ran ran = run(node, r);
  EXPECT_EQ(ran.reply.exit_code, 0);
  EXPECT_EQ(ran.reply.out, "");
  EXPECT_EQ(node.lookups, 0);
}

TEST(CniPlugin, MalformedNamesNeverReachTheApiServer) {
  FakeNode node;
  Request r = request(Command::add);
  r.args["K8S_POD_NAME"] = "../../secrets/x";
  EXPECT_EQ(run(node, r).out.at("code"), kInvalidEnvironment);
  EXPECT_EQ(node.lookups, 0);
}

TEST(CniPlugin, ABadEnvironmentIsAnErrorInTheConfigurationsVersion) {
  FakeNode node;
  auto env = [](const char* name) -> std::optional<std::string> {
    if (std::string(name) == "CNI_COMMAND") return "ADD";
    return std::nullopt;  // CNI_CONTAINERID and the rest missing
  };
  azwi::log::configure(azwi::log::Level::error, azwi::log::Format::text);
  testing::internal::CaptureStderr();
  Reply reply = handle(env, R"({"cniVersion":"0.4.0","name":"k8s","type":"azwi-cni"})", node.host(),
                       azwi::log::Logger("azwi-cni"));
  testing::internal::GetCapturedStderr();
  EXPECT_NE(reply.exit_code, 0);
  json::value out = json::parse(reply.out);
  EXPECT_EQ(out.at("code"), kInvalidEnvironment);
  EXPECT_EQ(out.at("cniVersion"), "0.4.0");
}
