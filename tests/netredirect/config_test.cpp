#include "netredirect/config.hpp"

#include <gtest/gtest.h>

#include <map>

using namespace azwi::netredirect;

namespace {

std::variant<Config, std::string> from(std::map<std::string, std::string> vars) {
  return config_from_env([vars](const char* name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  });
}

Config ok(std::map<std::string, std::string> vars) {
  auto r = from(std::move(vars));
  if (auto* err = std::get_if<std::string>(&r)) ADD_FAILURE() << *err;
  return std::holds_alternative<Config>(r) ? std::get<Config>(r) : Config{};
}

std::string error(std::map<std::string, std::string> vars) {
  auto r = from(std::move(vars));
  if (std::holds_alternative<Config>(r)) {
    ADD_FAILURE() << "accepted";
    return "";
  }
  return std::get<std::string>(r);
}

}  // namespace

TEST(ProxyInitConfig, DefaultsWhenUnset) {
  Config c = ok({});
  EXPECT_EQ(c.proxy_port, 8000);
  EXPECT_EQ(c.metadata_ip, "169.254.169.254");
  EXPECT_EQ(c.metadata_port, 80);
  EXPECT_EQ(c.proxy_uid, 1501u);
}

TEST(ProxyInitConfig, EmptyValuesCountAsUnset) {
  EXPECT_EQ(ok({{"PROXY_PORT", ""}, {"METADATA_IP", ""}, {"METADATA_PORT", ""}, {"PROXY_UID", ""}}), Config{});
}

TEST(ProxyInitConfig, EveryCombinationOfSetVariables) {
  const std::map<std::string, std::string> custom{
      {"PROXY_PORT", "9001"}, {"METADATA_IP", "10.1.2.3"}, {"METADATA_PORT", "8080"}, {"PROXY_UID", "2000"}};
  const std::vector<std::string> names{"PROXY_PORT", "METADATA_IP", "METADATA_PORT", "PROXY_UID"};
  for (int mask = 0; mask < 16; ++mask) {
    std::map<std::string, std::string> vars;
    for (int i = 0; i < 4; ++i)
      if (mask & (1 << i)) vars[names[i]] = custom.at(names[i]);
    Config c = ok(vars);
    SCOPED_TRACE(mask);
    EXPECT_EQ(c.proxy_port, (mask & 1) ? 9001 : 8000);
    EXPECT_EQ(c.metadata_ip, (mask & 2) ? "10.1.2.3" : "169.254.169.254");
    EXPECT_EQ(c.metadata_port, (mask & 4) ? 8080 : 80);
    EXPECT_EQ(c.proxy_uid, (mask & 8) ? 2000u : 1501u);
  }
}

TEST(ProxyInitConfig, RangeLimitsAccepted) {
  Config c = ok({{"PROXY_PORT", "1"}, {"METADATA_PORT", "65535"}, {"PROXY_UID", "0"}});
  EXPECT_EQ(c.proxy_port, 1);
  EXPECT_EQ(c.metadata_port, 65535);
  EXPECT_EQ(c.proxy_uid, 0u);
  EXPECT_EQ(ok({{"PROXY_UID", "4294967294"}}).proxy_uid, 4294967294u);
}

TEST(ProxyInitConfig, BadPortsNameTheVariableAndTheRange) {
  for (std::string bad : {"0", "65536", "-1", "80a", " 80", "0x50", "+80", "1e3", "08000", "99999999999999"}) {
    std::string e = error({{"PROXY_PORT", bad}});
    EXPECT_NE(e.find("PROXY_PORT=\"" + bad + "\""), std::string::npos) << e;
    EXPECT_NE(e.find("1..65535"), std::string::npos) << e;
    e = error({{"METADATA_PORT", bad}});
    EXPECT_NE(e.find("METADATA_PORT=\"" + bad + "\""), std::string::npos) << e;
    EXPECT_NE(e.find("1..65535"), std::string::npos) << e;
  }
}

TEST(ProxyInitConfig, BadUidNamesTheVariable) {
  for (std::string bad : {"-1", "4294967295", "root", "1501 ", "1.5"}) {
    std::string e = error({{"PROXY_UID", bad}});
    EXPECT_NE(e.find("PROXY_UID=\"" + bad + "\""), std::string::npos) << e;
    EXPECT_NE(e.find("0..4294967294"), std::string::npos) << e;
  }
}

TEST(ProxyInitConfig, BadMetadataIpNamesTheVariable) {
  for (std::string bad : {"169.254.169", "169.254.169.256", "metadata.local", "::1", "169.254.169.254/32",
                          "169.254.169.254 ", "010.1.1.1"}) {
    std::string e = error({{"METADATA_IP", bad}});
    EXPECT_NE(e.find("METADATA_IP=\"" + bad + "\""), std::string::npos) << e;
    EXPECT_NE(e.find("IPv4"), std::string::npos) << e;
  }
}

TEST(ProxyInitConfig, FirstBadVariableIsReportedEvenWithOthersValid) {
  std::string e = error({{"PROXY_PORT", "8001"}, {"METADATA_PORT", "http"}});
  EXPECT_EQ(e.rfind("METADATA_PORT=", 0), 0u) << e;
}
