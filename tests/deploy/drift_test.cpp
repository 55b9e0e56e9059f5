// Fails when the chart, the generated manifests or the container files drift from the code: names, labels,
// annotations, paths, ports, flags, environment variables, images and the UIDs the code relies on.
// Constants come from the code's own headers; flag defaults and environment variables from the binaries' --help.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "deploy/dockerfile.hpp"
#include "webhook/cert_rotation.hpp"
#include "webhook/config.hpp"
#include "webhook/mutation.hpp"

namespace {

namespace wh = azwi::webhook;
const std::string kDeploy = DEPLOY_DIR;

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ::pclose(p);
  return out;
}

// Flag name -> default text, from a binary's --help ("  --name=type   help (default "x")").
struct Help {
  std::map<std::string, std::string> defaults;
  std::set<std::string> flags;
  std::set<std::string> env;
  std::string text;
};

Help help_of(const std::string& binary) {
  Help h;
  h.text = run(binary + " --help 2>&1");
  std::istringstream in(h.text);
  std::string line;
  bool env_section = false;
  std::regex flag(R"re(^  --([a-z0-9-]+)(=\S+)?\s.*?(\(default "?([^")]*)"?\))?$)re");
  std::regex env(R"(^  ([A-Z_][A-Z0-9_]*)\s)");
  while (std::getline(in, line)) {
    if (line.rfind("Environment:", 0) == 0) env_section = true;
    std::smatch m;
    if (!env_section && std::regex_match(line, m, flag)) {
      h.flags.insert(m[1]);
      if (m[4].matched) h.defaults[m[1]] = m[4];
    } else if (env_section && std::regex_search(line, m, env)) {
      h.env.insert(m[1]);
    }
  }
  return h;
}

int port_of(const std::string& addr) { return std::stoi(addr.substr(addr.rfind(':') + 1)); }

struct Manifests {
  std::string file;
  std::vector<YAML::Node> docs;
  YAML::Node one(const std::string& kind, const std::string& name = "") const {
    YAML::Node found;
    int count = 0;
    for (const auto& d : docs) {
      if (d["kind"].as<std::string>() == kind && (name.empty() || d["metadata"]["name"].as<std::string>() == name)) {
        found = d;
        ++count;
      }
    }
    EXPECT_EQ(count, 1) << file << ": " << kind << " " << name;
    return found;
  }
  std::vector<YAML::Node> all(const std::string& kind) const {
    std::vector<YAML::Node> v;
    for (const auto& d : docs)
      if (d["kind"].as<std::string>() == kind) v.push_back(d);
    return v;
  }
  YAML::Node container() const { return one("Deployment")["spec"]["template"]["spec"]["containers"][0]; }
  // --flag=value arguments of the webhook container.
  std::map<std::string, std::string> args() const {
    std::map<std::string, std::string> a;
    for (const auto& arg : container()["args"]) {
      auto s = arg.as<std::string>();
      auto eq = s.find('=');
      a[s.substr(2, eq == std::string::npos ? std::string::npos : eq - 2)] =
          eq == std::string::npos ? "" : s.substr(eq + 1);
    }
    return a;
  }
  std::string env(const std::string& name) const {
    for (const auto& e : container()["env"])
      if (e["name"].as<std::string>() == name) return e["value"] ? e["value"].as<std::string>() : "(valueFrom)";
    return "";
  }
};

Manifests load(const std::string& name) {
  Manifests m;
  m.file = name;
  for (auto& d : YAML::LoadAllFromFile(kDeploy + "/manifests/" + name))
    if (d && d.IsMap()) m.docs.push_back(d);
  return m;
}

const std::vector<std::string> kManifestFiles = {"azwi-webhook.yaml", "azwi-webhook-cert-manager.yaml"};

std::vector<std::string> strings(const YAML::Node& n) {
  std::vector<std::string> v;
  for (const auto& x : n) v.push_back(x.as<std::string>());
  return v;
}

TEST(DeployDrift, ChartVersionIsTheProjectVersion) {
  auto chart = YAML::LoadFile(kDeploy + "/helm/azwi-webhook/Chart.yaml");
  EXPECT_EQ(chart["version"].as<std::string>(), AZWI_VERSION);
  EXPECT_EQ(chart["appVersion"].as<std::string>(), AZWI_VERSION);
}

TEST(DeployDrift, ImagesAreTheOnesTheWebhookDefaultsTo) {
  for (const auto& f : kManifestFiles) {
    auto m = load(f);
    EXPECT_EQ(m.env("PROXY_IMAGE"), wh::default_proxy_image()) << f;
    EXPECT_EQ(m.env("PROXY_INIT_IMAGE"), wh::default_proxy_init_image()) << f;
    // The webhook's own image sits next to the proxy images, with the same tag.
    auto proxy = wh::default_proxy_image();
    EXPECT_EQ(m.container()["image"].as<std::string>(),
              proxy.substr(0, proxy.find("/azwi-proxy:")) + "/azwi-webhook:v" + AZWI_VERSION)
        << f;
  }
}

TEST(DeployDrift, WebhookConfigurationSelectsThePodsTheCodeMutates) {
  auto help = help_of(WEBHOOK_BIN);
  for (const auto& f : kManifestFiles) {
    auto m = load(f);
    auto webhooks = m.one("MutatingWebhookConfiguration")["webhooks"];
    ASSERT_EQ(webhooks.size(), 1u) << f;
    auto w = webhooks[0];
    auto labels = w["objectSelector"]["matchLabels"];
    ASSERT_EQ(labels.size(), 1u) << f;
    EXPECT_EQ(labels[std::string(wh::kUseLabel)].as<std::string>(""), "true") << f;
    auto path = w["clientConfig"]["service"]["path"].as<std::string>();
    EXPECT_EQ(path, "/mutate-v1-pod") << f;
    EXPECT_NE(help.text.find("POST " + path), std::string::npos) << "the webhook no longer serves " << path;
    EXPECT_EQ(strings(w["admissionReviewVersions"]), (std::vector<std::string>{"v1", "v1beta1"})) << f;
    EXPECT_EQ(w["failurePolicy"].as<std::string>(), "Fail") << f;
    EXPECT_EQ(w["reinvocationPolicy"].as<std::string>(), "IfNeeded") << f;
    EXPECT_EQ(w["sideEffects"].as<std::string>(), "None") << f;
    ASSERT_EQ(w["rules"].size(), 1u) << f;
    auto r = w["rules"][0];
    EXPECT_EQ(strings(r["operations"]), std::vector<std::string>{"CREATE"}) << f;
    EXPECT_EQ(strings(r["resources"]), std::vector<std::string>{"pods"}) << f;
    EXPECT_EQ(strings(r["apiGroups"]), std::vector<std::string>{""}) << f;
    EXPECT_EQ(strings(r["apiVersions"]), std::vector<std::string>{"v1"}) << f;
    // The webhook calls the chart's Service, whose port leads to the container's admission port.
    auto svc = m.one("Service");
    EXPECT_EQ(w["clientConfig"]["service"]["name"].as<std::string>(), svc["metadata"]["name"].as<std::string>());
    EXPECT_EQ(w["clientConfig"]["service"]["namespace"].as<std::string>(),
              svc["metadata"]["namespace"].as<std::string>());
    EXPECT_FALSE(w["clientConfig"]["caBundle"]) << "caBundle is filled in at run time; a static one would be wrong";
  }
}

TEST(DeployDrift, PortsPathsAndFlagsMatchTheBinary) {
  auto help = help_of(WEBHOOK_BIN);
  ASSERT_TRUE(help.flags.count("webhook-addr")) << help.text;
  for (const auto& f : kManifestFiles) {
    auto m = load(f);
    auto args = m.args();
    for (const auto& [flag, value] : args) EXPECT_TRUE(help.flags.count(flag)) << f << ": unknown flag --" << flag;
    // The manifests pass the binary's defaults explicitly, so the documented defaults are what runs.
    for (const char* flag : {"webhook-addr", "health-addr", "metrics-addr", "webhook-cert-dir", "tls-min-version",
                             "audience", "proxy-sidecar-mode", "log-level", "log-format"}) {
      ASSERT_TRUE(args.count(flag)) << f << ": --" << flag << " not passed";
      EXPECT_EQ(args[flag], help.defaults[flag]) << f << ": --" << flag;
    }
    EXPECT_EQ(args["audience"], std::string(wh::kDefaultAudience));
    std::map<std::string, int> ports;
    for (const auto& p : m.container()["ports"]) ports[p["name"].as<std::string>()] = p["containerPort"].as<int>();
    EXPECT_EQ(ports["webhook-server"], port_of(args["webhook-addr"])) << f;
    EXPECT_EQ(ports["healthz"], port_of(args["health-addr"])) << f;
    EXPECT_EQ(ports["metrics"], port_of(args["metrics-addr"])) << f;
    for (const char* probe : {"livenessProbe", "readinessProbe"}) {
      auto get = m.container()[probe]["httpGet"];
      EXPECT_EQ(get["port"].as<std::string>(), "healthz") << f;
      EXPECT_EQ(get["path"].as<std::string>(), std::string(probe) == "livenessProbe" ? "/healthz" : "/readyz");
    }
    EXPECT_NE(help.text.find("/healthz and /readyz"), std::string::npos);
    auto svc = m.one("Service");
    EXPECT_EQ(svc["spec"]["ports"][0]["targetPort"].as<std::string>(), "webhook-server") << f;
    EXPECT_EQ(svc["spec"]["ports"][0]["port"].as<int>(),
              m.one("MutatingWebhookConfiguration")["webhooks"][0]["clientConfig"]["service"]["port"].as<int>());
    // The certificate directory is where the volume is mounted.
    EXPECT_EQ(m.container()["volumeMounts"][0]["mountPath"].as<std::string>(), args["webhook-cert-dir"]) << f;
    auto annotations = m.one("Deployment")["spec"]["template"]["metadata"]["annotations"];
    EXPECT_EQ(annotations["prometheus.io/port"].as<std::string>(), std::to_string(ports["metrics"])) << f;
  }
}

TEST(DeployDrift, EnvironmentIsWhatTheWebhookReads) {
  auto help = help_of(WEBHOOK_BIN);
  for (const auto& f : kManifestFiles) {
    auto m = load(f);
    auto cm = m.one("ConfigMap");
    std::set<std::string> keys;
    for (const auto& kv : cm["data"]) keys.insert(kv.first.as<std::string>());
    EXPECT_EQ(keys, (std::set<std::string>{"AZURE_TENANT_ID", "AZURE_ENVIRONMENT"})) << f;
    for (const auto& k : keys) EXPECT_TRUE(help.env.count(k)) << f << ": the webhook does not read " << k;
    for (const auto& e : m.container()["env"])
      EXPECT_TRUE(help.env.count(e["name"].as<std::string>())) << f << ": the webhook does not read "
                                                               << e["name"].as<std::string>();
    EXPECT_TRUE(wh::authority_host_for(cm["data"]["AZURE_ENVIRONMENT"].as<std::string>()).has_value()) << f;
    EXPECT_EQ(m.container()["envFrom"][0]["configMapRef"]["name"].as<std::string>(),
              cm["metadata"]["name"].as<std::string>());
  }
}

// The objects carry the names the webhook's certificate rotation uses by default, in the default namespace, and
// the Deployment passes the same names explicitly.
TEST(DeployDrift, NamesAreTheCertificateRotationDefaults) {
  for (const auto& f : kManifestFiles) {
    auto m = load(f);
    bool rotation = f == "azwi-webhook.yaml";
    auto ns = std::string(wh::kDefaultNamespace);
    EXPECT_EQ(m.one("Namespace")["metadata"]["name"].as<std::string>(), ns) << f;
    for (const auto& d : m.docs)
      if (d["metadata"]["namespace"]) {
        EXPECT_EQ(d["metadata"]["namespace"].as<std::string>(), ns) << f;
      }
    auto svc = m.one("Service", std::string(wh::kDefaultServiceName));
    m.one("MutatingWebhookConfiguration", std::string(wh::kDefaultWebhookConfigName));
    auto args = m.args();
    if (rotation) {
      EXPECT_EQ(args["cert-secret-name"], wh::kDefaultCertSecretName) << f;
      EXPECT_EQ(args["webhook-service-name"], wh::kDefaultServiceName) << f;
      EXPECT_EQ(args["webhook-config-name"], wh::kDefaultWebhookConfigName) << f;
      EXPECT_FALSE(args.count("disable-cert-rotation")) << f;
      // The webhook writes the pair itself: a writable, memory-backed volume.
      EXPECT_TRUE(m.one("Deployment")["spec"]["template"]["spec"]["volumes"][0]["emptyDir"]) << f;
    } else {
      EXPECT_TRUE(args.count("disable-cert-rotation")) << f;
      auto cert = m.one("Certificate");
      EXPECT_EQ(cert["spec"]["secretName"].as<std::string>(), wh::kDefaultCertSecretName) << f;
      auto names = strings(cert["spec"]["dnsNames"]);
      EXPECT_NE(std::find(names.begin(), names.end(), std::string(wh::kDefaultServiceName) + "." + ns + ".svc"),
                names.end());
      EXPECT_EQ(m.one("Deployment")["spec"]["template"]["spec"]["volumes"][0]["secret"]["secretName"].as<std::string>(),
                wh::kDefaultCertSecretName);
    }
    EXPECT_EQ(m.env("POD_NAMESPACE"), "(valueFrom)") << f;
  }
}

TEST(DeployDrift, WebhookRunsAsTheNonRootUserOfItsImage) {
  for (const auto& f : kManifestFiles) {
    auto m = load(f);
    auto sc = m.container()["securityContext"];
    EXPECT_TRUE(sc["runAsNonRoot"].as<bool>());
    EXPECT_TRUE(sc["readOnlyRootFilesystem"].as<bool>());
    EXPECT_FALSE(sc["allowPrivilegeEscalation"].as<bool>());
    EXPECT_NE(sc["runAsUser"].as<int>(), 0);
  }
}

// The images the webhook injects and runs must be what the code assumes: the proxy binary where the postStart
// hook runs it, as the UID the redirect rules exempt, on the default port; the webhook as the chart's user.
TEST(DeployDrift, ProxyImageIsWhatTheInjectedSidecarExpects) {
  auto d = azwi::deploytest::read_dockerfile(kDeploy + "/docker/azwi-proxy.Dockerfile");
  auto uid = std::to_string(wh::kProxyUid);
  EXPECT_EQ(d.user, uid + ":" + uid);
  EXPECT_EQ(d.entrypoint, std::vector<std::string>{std::string(wh::kProxyBinary)});
  EXPECT_EQ(d.exposed, std::vector<int>{wh::kDefaultProxyPort});
  bool binary = false;
  for (const auto& [src, dst] : d.copies_from_build) binary |= src == "/out/bin/azwi-proxy" && dst == wh::kProxyBinary;
  EXPECT_TRUE(binary) << "the image must put azwi-proxy at " << wh::kProxyBinary;
  auto help = help_of(PROXY_BIN);
  EXPECT_EQ(help.defaults["proxy-port"], std::to_string(wh::kDefaultProxyPort));
  EXPECT_TRUE(help.flags.count("probe"));
  auto init = help_of(PROXY_INIT_BIN);
  EXPECT_NE(init.text.find("PROXY_PORT"), std::string::npos) << "the webhook sets PROXY_PORT on azwi-proxy-init";
}

TEST(DeployDrift, WebhookImageMatchesTheDeployment) {
  auto d = azwi::deploytest::read_dockerfile(kDeploy + "/docker/azwi-webhook.Dockerfile");
  EXPECT_EQ(d.entrypoint, std::vector<std::string>{"/usr/local/bin/azwi-webhook"});
  for (const auto& f : kManifestFiles) {
    auto m = load(f);
    auto sc = m.container()["securityContext"];
    EXPECT_EQ(d.user, std::to_string(sc["runAsUser"].as<int>()) + ":" + std::to_string(sc["runAsGroup"].as<int>()));
    std::vector<int> ports;
    for (const auto& p : m.container()["ports"]) ports.push_back(p["containerPort"].as<int>());
    EXPECT_EQ(d.exposed, ports) << f;
    EXPECT_FALSE(m.container()["command"]) << "the image's ENTRYPOINT runs the webhook";
  }
}

}  // namespace
