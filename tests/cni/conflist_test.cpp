// Adding azwi-cni to the node's network configuration and taking it out again.
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

json::array plugins_of(const std::variant<Edited, std::string>& r) {
  EXPECT_TRUE(std::holds_alternative<Edited>(r)) << (std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : "");
  return json::parse(std::get<Edited>(r).text).at("plugins").as_array();
}

}  // namespace

TEST(CniConflist, TheRuntimeReadsTheFirstConfigurationFileByName) {
  EXPECT_EQ(chosen_config({"20-b.conflist", "10-a.conf", "azwi-cni.kubeconfig"}), "10-a.conf");
  EXPECT_EQ(chosen_config({"99-x.json", "azwi-cni.kubeconfig", "README"}), "99-x.json");
  EXPECT_EQ(chosen_config({"azwi-cni.kubeconfig"}), std::nullopt);
}

TEST(CniConflist, InsertAppendsAfterThePrimaryPluginsAndKeepsTheirSettings) {
  auto r = insert_plugin(kBridge, entry());
  json::array p = plugins_of(r);
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0].at("bridge"), "cni0");
  EXPECT_EQ(p[1].at("type"), "portmap");
  EXPECT_EQ(p[2], json::value(entry()));
  json::value whole = json::parse(std::get<Edited>(r).text);
  EXPECT_EQ(whole.at("cniVersion"), "0.4.0");
  EXPECT_EQ(whole.at("name"), "k8s");
}

TEST(CniConflist, InsertIsIdempotentAndReplacesAnOldEntry) {
  std::string once = std::get<Edited>(insert_plugin(kBridge, entry())).text;
  auto twice = insert_plugin(once, entry());
  EXPECT_FALSE(std::get<Edited>(twice).changed);
  auto moved = insert_plugin(once, entry("/elsewhere"));
  json::array p = plugins_of(moved);
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[2].at("kubeconfig"), "/elsewhere");
  // An entry somewhere in the middle (another tool appended after us) moves to the end.
  std::string middle = R"({"cniVersion":"1.0.0","name":"k","plugins":[{"type":"bridge"},{"type":"azwi-cni","kubeconfig":"/etc/cni/net.d/azwi-cni.kubeconfig"},{"type":"bandwidth"}]})";
  json::array m = plugins_of(insert_plugin(middle, entry()));
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[1].at("type"), "bandwidth");
  EXPECT_EQ(m[2].at("type"), "azwi-cni");
}

TEST(CniConflist, ASinglePluginConfigurationBecomesAList) {
  auto r = insert_plugin(R"({"cniVersion":"0.3.1","name":"net","type":"bridge","bridge":"br0"})", entry());
  json::array p = plugins_of(r);
  EXPECT_TRUE(std::get<Edited>(r).converted);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].at("bridge"), "br0");
  EXPECT_EQ(json::parse(std::get<Edited>(r).text).at("name"), "net");
}

TEST(CniConflist, RemoveTakesOnlyOurEntryOut) {
  std::string with = std::get<Edited>(insert_plugin(kBridge, entry())).text;
  auto r = remove_plugin(with);
  EXPECT_TRUE(std::get<Edited>(r).changed);
  EXPECT_EQ(json::parse(std::get<Edited>(r).text), json::parse(kBridge));
  EXPECT_FALSE(std::get<Edited>(remove_plugin(kBridge)).changed);
}

TEST(CniConflist, UnusableFilesAreErrorsThatSayWhy) {
  for (const char* bad : {"{", "[]", R"({"name":"x"})", R"({"plugins":{}})", R"({"plugins":[]})"}) {
    auto r = insert_plugin(bad, entry());
    EXPECT_TRUE(std::holds_alternative<std::string>(r)) << bad;
  }
}
