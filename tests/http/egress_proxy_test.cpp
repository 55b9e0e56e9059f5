#include <gtest/gtest.h>

#include "http/egress_proxy.hpp"

using azwi::http::EgressProxySettings;

TEST(EgressProxy, HttpsProxyIsUsedForHttpsOnly) {
  EgressProxySettings s("http://proxy.corp:3128", "", "");
  auto p = s.proxy_for("https", "login.microsoftonline.com", 443);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->host, "proxy.corp");
  EXPECT_EQ(p->port, 3128);
  EXPECT_TRUE(p->authorization.empty());
  EXPECT_FALSE(s.proxy_for("http", "example.com", 80));
}

TEST(EgressProxy, SchemeLessValuesAndCredentials) {
  EgressProxySettings s("user:p%40ss@10.0.0.5:8080", "", "");
  auto p = s.proxy_for("https", "login.microsoftonline.com", 443);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->host, "10.0.0.5");
  EXPECT_EQ(p->port, 8080);
  EXPECT_EQ(p->authorization, "Basic dXNlcjpwQHNz");  // user:p@ss
}

TEST(EgressProxy, LoopbackAndLocalhostAreNeverProxied) {
  EgressProxySettings s("http://proxy:3128", "", "");
  EXPECT_FALSE(s.proxy_for("https", "localhost", 443));
  EXPECT_FALSE(s.proxy_for("https", "127.0.0.1", 443));
  EXPECT_FALSE(s.proxy_for("https", "::1", 443));
}

TEST(EgressProxy, NoProxyNamesSuffixesAddressesCidrsAndPorts) {
  EgressProxySettings s("http://proxy:3128", "",
                        " .svc.cluster.local, example.com ,10.1.2.3,192.168.0.0/16,fd00::/8,*.corp.net,login.x:8443");
  EXPECT_FALSE(s.proxy_for("https", "kubernetes.default.svc.cluster.local", 443));
  EXPECT_FALSE(s.proxy_for("https", "example.com", 443));
  EXPECT_FALSE(s.proxy_for("https", "sub.example.com", 443));
  EXPECT_TRUE(s.proxy_for("https", "notexample.com", 443));
  EXPECT_FALSE(s.proxy_for("https", "10.1.2.3", 443));
  EXPECT_TRUE(s.proxy_for("https", "10.1.2.4", 443));
  EXPECT_FALSE(s.proxy_for("https", "192.168.44.1", 443));
  EXPECT_FALSE(s.proxy_for("https", "fd12::1", 443));
  EXPECT_FALSE(s.proxy_for("https", "a.corp.net", 443));
  EXPECT_FALSE(s.proxy_for("https", "login.x", 8443));
  EXPECT_TRUE(s.proxy_for("https", "login.x", 443));
  EXPECT_TRUE(s.proxy_for("https", "login.microsoftonline.com", 443));
}

TEST(EgressProxy, StarBypassesEverything) {
  EgressProxySettings s("http://proxy:3128", "", "*");
  EXPECT_FALSE(s.proxy_for("https", "login.microsoftonline.com", 443));
}

TEST(EgressProxy, UnusableSettingsAreReportedAndIgnored) {
  EgressProxySettings s("socks5://proxy:1080", "", "10.0.0.0/99x");
  EXPECT_FALSE(s.proxy_for("https", "login.microsoftonline.com", 443));
  ASSERT_EQ(s.problems().size(), 2u);
  EXPECT_NE(s.problems()[0].find("only http://"), std::string::npos);
  EXPECT_NE(s.problems()[1].find("CIDR"), std::string::npos);
}
