// The CNI protocol: requests from the spec's environment and stdin, and the replies' shapes.
#include "cni/spec.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <map>

using namespace azwi::cni;
namespace json = boost::json;

namespace {

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars](const char* name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end() || it->second.empty()) return std::nullopt;
    return it->second;
  };
}

std::map<std::string, std::string> add_env() {
  return {{"CNI_COMMAND", "ADD"},
          {"CNI_CONTAINERID", "abc"},
          {"CNI_NETNS", "/var/run/netns/cni-1"},
          {"CNI_IFNAME", "eth0"},
          {"CNI_PATH", "/opt/cni/bin"},
          {"CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAMESPACE=apps;K8S_POD_NAME=web-0;K8S_POD_UID=u-1"}};
}

const char* const kConfig =
    R"({"cniVersion":"1.0.0","name":"k8s","type":"azwi-cni","kubeconfig":"/etc/cni/net.d/azwi-cni.kubeconfig",)"
    R"("prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"eth0"}],"ips":[{"address":"10.244.0.5/24"}]}})";

Error error_of(const std::variant<Request, Error>& r) {
  EXPECT_TRUE(std::holds_alternative<Error>(r));
  return std::holds_alternative<Error>(r) ? std::get<Error>(r) : Error{};
}

}  // namespace

TEST(CniSpec, AddRequestCarriesThePodTheNamespaceAndThePreviousResult) {
  auto parsed = parse_request(env_of(add_env()), kConfig);
  ASSERT_TRUE(std::holds_alternative<Request>(parsed)) << std::get<Error>(parsed).msg;
  const Request& r = std::get<Request>(parsed);
  EXPECT_EQ(r.command, Command::add);
  EXPECT_EQ(r.netns, "/var/run/netns/cni-1");
  EXPECT_EQ(r.container_id, "abc");
  EXPECT_EQ(r.arg("K8S_POD_NAMESPACE"), "apps");
  EXPECT_EQ(r.arg("K8S_POD_NAME"), "web-0");
  EXPECT_EQ(r.cni_version, "1.0.0");
  ASSERT_TRUE(r.prev_result);
}

TEST(CniSpec, PassThroughPrintsThePreviousResultInTheConfigurationsVersion) {
  auto env = add_env();
  std::string config = kConfig;
  config.replace(config.find("1.0.0"), 5, "0.4.0");  // the configuration's version, not prevResult's
  const Request r = std::get<Request>(parse_request(env_of(env), config));
  json::value out = json::parse(prev_result_json(r));
  EXPECT_EQ(out.at("cniVersion"), "0.4.0");
  EXPECT_EQ(out.at("ips").at(0).at("address"), "10.244.0.5/24");
  EXPECT_EQ(out.at("interfaces").at(0).at("name"), "eth0");
}

TEST(CniSpec, MissingVariablesAreCode4AndNameTheVariable) {
  for (const char* name : {"CNI_CONTAINERID", "CNI_IFNAME", "CNI_NETNS"}) {
    auto env = add_env();
    env.erase(name);
    Error e = error_of(parse_request(env_of(env), kConfig));
    EXPECT_EQ(e.code, kInvalidEnvironment) << name;
    EXPECT_NE(e.msg.find(name), std::string::npos) << e.msg;
  }
  auto env = add_env();
  env["CNI_COMMAND"] = "ATTACH";
  EXPECT_EQ(error_of(parse_request(env_of(env), kConfig)).code, kInvalidEnvironment);
  env = add_env();
  env["CNI_ARGS"] = "K8S_POD_NAME";
  EXPECT_EQ(error_of(parse_request(env_of(env), kConfig)).code, kInvalidEnvironment);
}

TEST(CniSpec, DelNeedsNoNamespace) {
  auto env = add_env();
  env["CNI_COMMAND"] = "DEL";
  env.erase("CNI_NETNS");
  auto parsed = parse_request(env_of(env), kConfig);
  ASSERT_TRUE(std::holds_alternative<Request>(parsed)) << std::get<Error>(parsed).msg;
  EXPECT_EQ(std::get<Request>(parsed).netns, "");
}

TEST(CniSpec, BadStdinIsADecodeErrorAndAnUnknownVersionIsIncompatible) {
  EXPECT_EQ(error_of(parse_request(env_of(add_env()), "{not json")).code, kDecodeFailure);
  EXPECT_EQ(error_of(parse_request(env_of(add_env()), "[1,2]")).code, kDecodeFailure);
  EXPECT_EQ(error_of(parse_request(env_of(add_env()), R"({"name":"x"})")).code, kInvalidNetworkConfig);
  Error e = error_of(parse_request(env_of(add_env()), R"({"cniVersion":"9.9.9","name":"x"})"));
  EXPECT_EQ(e.code, kIncompatibleVersion);
  EXPECT_NE(e.details.find("1.0.0"), std::string::npos);
  EXPECT_EQ(error_of(parse_request(env_of(add_env()), R"({"cniVersion":"1.0.0","prevResult":[]})")).code,
            kInvalidNetworkConfig);
}

TEST(CniSpec, VersionListsTheSpecsContainerd16Speaks) {
  auto parsed = parse_request(env_of({{"CNI_COMMAND", "VERSION"}}), R"({"cniVersion":"0.4.0"})");
  ASSERT_TRUE(std::holds_alternative<Request>(parsed));
  json::value out = json::parse(version_json(std::get<Request>(parsed).cni_version));
  EXPECT_EQ(out.at("cniVersion"), "0.4.0");
  std::vector<std::string> versions;
  for (const auto& v : out.at("supportedVersions").as_array()) versions.emplace_back(v.as_string());
  for (const char* v : {"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"})
    EXPECT_NE(std::find(versions.begin(), versions.end(), v), versions.end()) << v;
  // An empty stdin (an old runtime, or a person trying it) still gets the list.
  EXPECT_TRUE(std::holds_alternative<Request>(parse_request(env_of({{"CNI_COMMAND", "VERSION"}}), "")));
}

TEST(CniSpec, ErrorsHaveTheSpecsShape) {
  json::value out = json::parse(error_json({kTryAgainLater, "cannot ask", "the API server is down"}, "0.4.0"));
  EXPECT_EQ(out.at("cniVersion"), "0.4.0");
  EXPECT_EQ(out.at("code"), 11);
  EXPECT_EQ(out.at("msg"), "cannot ask");
  EXPECT_EQ(out.at("details"), "the API server is down");
  // Before the configuration's version is known, the reply still names one the runtime can read.
  EXPECT_EQ(json::parse(error_json({kDecodeFailure, "x", ""}, "")).at("cniVersion"), "1.1.0");
}
