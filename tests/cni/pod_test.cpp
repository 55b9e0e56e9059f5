// Which pods ask for the node's redirect, read from the pod the API server returns.
#include "cni/pod.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

using namespace azwi::cni;
namespace json = boost::json;

namespace {
std::variant<PodRedirect, std::string> decide(const char* annotations) {
  return redirect_for_pod(json::parse(std::string(R"({"metadata":{"name":"p","annotations":)") + annotations + "}}"));
}
}  // namespace

TEST(CniPod, OnlyTheCniModeAsksForTheRedirect) {
  auto cni = decide(R"({"azure.workload.identity/proxy-sidecar-mode":"cni"})");
  ASSERT_TRUE(std::holds_alternative<PodRedirect>(cni));
  EXPECT_TRUE(std::get<PodRedirect>(cni).wanted);
  EXPECT_EQ(std::get<PodRedirect>(cni).config, azwi::netredirect::Config{});  // port 8000, UID 1501, 169.254.169.254:80
  for (const char* other : {R"({"azure.workload.identity/proxy-sidecar-mode":"init-container"})",
                            R"({"azure.workload.identity/proxy-sidecar-mode":"identity-endpoint"})",
                            R"({"azure.workload.identity/proxy-sidecar-mode":"CNI"})", R"({})"}) {
    auto d = decide(other);
    ASSERT_TRUE(std::holds_alternative<PodRedirect>(d)) << other;
    EXPECT_FALSE(std::get<PodRedirect>(d).wanted) << other;
  }
  auto none = redirect_for_pod(json::parse(R"({"metadata":{"name":"p"}})"));
  EXPECT_FALSE(std::get<PodRedirect>(none).wanted);
}

TEST(CniPod, TheSidecarPortAnnotationMovesTheRedirectTarget) {
  auto d = decide(R"({"azure.workload.identity/proxy-sidecar-mode":"cni","azure.workload.identity/proxy-sidecar-port":"8123"})");
  EXPECT_EQ(std::get<PodRedirect>(d).config.proxy_port, 8123);
  for (const char* bad : {"0", "65536", "80a", "-1", " 80"}) {
    auto e = decide((std::string(R"({"azure.workload.identity/proxy-sidecar-mode":"cni","azure.workload.identity/proxy-sidecar-port":")") + bad + "\"}").c_str());
    ASSERT_TRUE(std::holds_alternative<std::string>(e)) << bad;
    EXPECT_NE(std::get<std::string>(e).find("proxy-sidecar-port"), std::string::npos);
  }
}

TEST(CniPod, AnAnswerThatIsNotAPodIsAnError) {
  EXPECT_TRUE(std::holds_alternative<std::string>(redirect_for_pod(json::parse(R"({"kind":"Status"})"))));
  EXPECT_TRUE(std::holds_alternative<std::string>(redirect_for_pod(json::parse(R"([1])"))));
}
