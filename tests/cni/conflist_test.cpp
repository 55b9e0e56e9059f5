// The node's network configuration with azwi-cni at the end of the chain.
#include "cni/conflist.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

using namespace azwi::cni;
namespace json = boost::json;

namespace {

const char* const kBridge = R"({"cniVersion":"0.4.0","name":"k8s","plugins":[
  {"type":"bridge","bridge":"cni0","ipam":{"type":"host-local"}},
  {"type":"portmap","capabilities":{"portMappings":true}}]})";

json::object entry(const char* kubeconfig = "/etc/cni/net.d/azwi-cni.kubeconfig") {
  json::object e;
  e["type"] = "azwi-cni";
  e["kubeconfig"] = kubeconfig;
  return e;
}

std::string text_of(const Chained& r) {
  EXPECT_EQ(r.error, "");
  return r.text;
}

json::array plugins_of(const Chained& r) {
  return json::parse(text_of(r)).at("plugins").as_array();
}

}  // namespace

TEST(CniConflist, TheRuntimeReadsTheFirstConfigurationFileByName) {
  EXPECT_EQ(chosen_config({"20-b.conflist", "10-a.conf", "azwi-cni.kubeconfig"}), "10-a.conf");
  EXPECT_EQ(chosen_config({"99-x.json", "azwi-cni.kubeconfig", "README"}), "99-x.json");
  EXPECT_EQ(chosen_config({"10-a.conflist", "00-azwi-cni.conflist"}), "00-azwi-cni.conflist");
  EXPECT_EQ(chosen_config({"azwi-cni.kubeconfig"}), std::nullopt);
}

TEST(CniConflist, AzwiCniIsAppendedAfterThePrimaryPluginsWhichKeepTheirSettings) {
  auto r = with_plugin(kBridge, entry());
  json::array p = plugins_of(r);
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0].at("bridge"), "cni0");
  EXPECT_EQ(p[1].at("type"), "portmap");
  EXPECT_EQ(p[2], json::value(entry()));
  json::value whole = json::parse(text_of(r));
  EXPECT_EQ(whole.at("cniVersion"), "0.4.0");
  EXPECT_EQ(whole.at("name"), "k8s");
}

TEST(CniConflist, TheResultIsStableAndAnOldEntryIsReplaced) {
  std::string once = text_of(with_plugin(kBridge, entry()));
  EXPECT_EQ(text_of(with_plugin(once, entry())), once);
  json::array moved = plugins_of(with_plugin(once, entry("/elsewhere")));
  ASSERT_EQ(moved.size(), 3u);
  EXPECT_EQ(moved[2].at("kubeconfig"), "/elsewhere");
  // An entry in the middle (another tool appended after it) moves to the end.
  std::string middle = R"({"cniVersion":"1.0.0","name":"k","plugins":[{"type":"bridge"},{"type":"azwi-cni"},{"type":"bandwidth"}]})";
  json::array m = plugins_of(with_plugin(middle, entry()));
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[1].at("type"), "bandwidth");
  EXPECT_EQ(m[2].at("type"), "azwi-cni");
}

TEST(CniConflist, ASinglePluginConfigurationBecomesAList) {
  json::value whole = json::parse(text_of(with_plugin(R"({"cniVersion":"0.3.1","name":"net","type":"bridge","bridge":"br0"})", entry())));
  json::array p = whole.at("plugins").as_array();
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].at("bridge"), "br0");
  EXPECT_EQ(whole.at("name"), "net");
  EXPECT_EQ(whole.at("cniVersion"), "0.3.1");
}

TEST(CniConflist, UnusableFilesAreErrorsThatSayWhy) {
  for (const char* bad : {"{", "[]", R"({"name":"x"})", R"({"plugins":{}})", R"({"plugins":[]})"})
    EXPECT_NE(with_plugin(bad, entry()).error, "") << bad;
}
