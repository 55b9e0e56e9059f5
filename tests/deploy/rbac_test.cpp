// The chart's RBAC against what the webhook really calls: the stand-in API server records, in RBAC's terms, every
// request azwi's Kubernetes client made during the webhook's integration tests (tests/webhook, ctest fixture
// webhook_api_calls), and each manifest's ClusterRole and Role must allow every recorded call and grant nothing that
// no call used, unless the grant is explained below. With cert-manager (--disable-cert-rotation) only the calls of
// the webhooks run with rotation disabled count.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace {

namespace json = boost::json;
const std::string kDeploy = DEPLOY_DIR;
const std::string kCalls = API_CALLS_DIR;

struct Call {
  std::string verb, group, resource, non_resource_url;
  bool named = false, namespaced = false;
  auto operator<=>(const Call&) const = default;
  std::string text() const {
    if (!non_resource_url.empty()) return verb + " " + non_resource_url;
    return verb + " " + (group.empty() ? "core" : group) + "/" + resource + (named ? " by name" : "") +
           (namespaced ? " in a namespace" : " cluster-wide");
  }
};

// Non-resource calls the chart need not grant.
const std::map<std::string, std::string> kCallsAllowedElsewhere = {
    {"get /version", "every authenticated user may (the built-in ClusterRole system:public-info-viewer)"},
};

// Grants no recorded call used, and why they stay. Empty: every grant is used by the tests.
const std::map<std::string, std::string> kUnusedGrantsExplained = {};

std::set<Call> recorded(const std::string& mode) {
  std::set<Call> out;
  std::error_code ec;
  for (const auto& file : std::filesystem::directory_iterator(kCalls + "/" + mode, ec)) {
    std::ifstream in(file.path());
    std::string line;
    while (std::getline(in, line)) {
      auto o = json::parse(line).as_object();
      auto text = [&](const char* k) { return o.contains(k) ? std::string(o.at(k).as_string()) : std::string(); };
      Call c{text("verb"), text("group"), text("resource"), text("nonResourceURL")};
      c.named = !text("name").empty();
      c.namespaced = !text("namespace").empty();
      out.insert(c);
    }
  }
  return out;
}

struct Grant {
  std::string verb, group, resource;
  std::set<std::string> names;  // resourceNames; empty: any
  bool cluster_wide = false;    // from the ClusterRole (else a Role: namespaced calls only)
  std::string text() const {
    std::string n;
    for (const auto& x : names) n += (n.empty() ? " " : ",") + x;
    return std::string(cluster_wide ? "ClusterRole" : "Role") + ": " + verb + " " + (group.empty() ? "core" : group) +
           "/" + resource + n;
  }
  bool allows(const Call& c) const {
    if (!c.non_resource_url.empty() || c.verb != verb || c.group != group || c.resource != resource) return false;
    if (!cluster_wide && !c.namespaced) return false;
    return names.empty() || c.named;  // a rule limited to names matches only requests that name their object
  }
};

struct Chart {
  std::vector<Grant> grants;
  std::map<std::string, std::string> args;  // --flag=value of the webhook container
  std::string webhook_config_name;
};

Chart load(const std::string& file) {
  Chart chart;
  for (const auto& d : YAML::LoadAllFromFile(kDeploy + "/manifests/" + file)) {
    if (!d || !d.IsMap()) continue;
    auto kind = d["kind"].as<std::string>();
    if (kind == "ClusterRole" || kind == "Role") {
      for (const auto& rule : d["rules"]) {
        std::set<std::string> names;
        for (const auto& n : rule["resourceNames"]) names.insert(n.as<std::string>());
        for (const auto& g : rule["apiGroups"])
          for (const auto& r : rule["resources"])
            for (const auto& v : rule["verbs"])
              chart.grants.push_back({v.as<std::string>(), g.as<std::string>(), r.as<std::string>(), names,
                                      kind == "ClusterRole"});
      }
    } else if (kind == "Deployment") {
      for (const auto& a : d["spec"]["template"]["spec"]["containers"][0]["args"]) {
        auto s = a.as<std::string>();
        auto eq = s.find('=');
        if (s.starts_with("--") && eq != std::string::npos) chart.args[s.substr(2, eq - 2)] = s.substr(eq + 1);
      }
    } else if (kind == "MutatingWebhookConfiguration") {
      chart.webhook_config_name = d["metadata"]["name"].as<std::string>();
    }
  }
  return chart;
}

void compare(const std::string& file, const std::set<Call>& calls) {
  ASSERT_FALSE(calls.empty()) << "no API calls recorded under " << kCalls
                              << ": ctest runs the webhook's integration tests first (fixture webhook_api_calls)";
  Chart chart = load(file);
  ASSERT_FALSE(chart.grants.empty()) << file;
  for (const auto& c : calls) {
    bool allowed = false;
    for (const auto& g : chart.grants) allowed = allowed || g.allows(c);
    if (!allowed && !c.non_resource_url.empty()) allowed = kCallsAllowedElsewhere.count(c.text()) > 0;
    EXPECT_TRUE(allowed) << file << " does not allow a call the webhook makes: " << c.text();
  }
  for (const auto& g : chart.grants) {
    bool used = false;
    for (const auto& c : calls) used = used || g.allows(c);
    EXPECT_TRUE(used || kUnusedGrantsExplained.count(g.text()))
        << file << " grants what no recorded call used (remove it, or explain it in kUnusedGrantsExplained): "
        << g.text();
    if (used) {
      EXPECT_FALSE(kUnusedGrantsExplained.count(g.text())) << "explained but used: " << g.text();
    }
    // Names: the objects the Deployment tells the webhook to use.
    if (g.resource == "secrets" && !g.names.empty()) {
      EXPECT_EQ(g.names, std::set<std::string>{chart.args["cert-secret-name"]}) << file;
    }
    if (g.resource == "mutatingwebhookconfigurations") {
      EXPECT_EQ(g.names, std::set<std::string>{chart.webhook_config_name}) << file;
      EXPECT_EQ(chart.args["webhook-config-name"], chart.webhook_config_name) << file;
    }
  }
}

TEST(DeployRbac, BuiltInRotationGrantsExactlyTheCallsTheWebhookMade) {
  auto calls = recorded("rotation");
  auto without = recorded("rotation-disabled");
  calls.insert(without.begin(), without.end());
  compare("azwi-webhook.yaml", calls);
}

TEST(DeployRbac, CertManagerModeGrantsExactlyTheCallsOfAWebhookWithoutRotation) {
  compare("azwi-webhook-cert-manager.yaml", recorded("rotation-disabled"));
}

}  // namespace
