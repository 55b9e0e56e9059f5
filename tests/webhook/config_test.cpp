// The webhook's configuration: its environment variables (cloud, authority host, images, proxy CA ConfigMap, the
// custom token endpoint), the token layout and resource syntax, each refusal naming the variable and the problem.
#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>

#include "webhook/config.hpp"
#include "config_env.hpp"

using namespace azwi::webhook;

TEST(Config, AuthorityHosts) {
  EXPECT_EQ(authority_host_for(""), "https://login.microsoftonline.com/");
  EXPECT_EQ(authority_host_for("azurepubliccloud"), "https://login.microsoftonline.com/");
  EXPECT_EQ(authority_host_for("AzureUSGovernmentCloud"), "https://login.microsoftonline.us/");
  EXPECT_EQ(authority_host_for("AzureChinaCloud"), "https://login.chinacloudapi.cn/");
  EXPECT_FALSE(authority_host_for("AzureGermanCloud"));
}

TEST(Config, FromEnvironment) {
  unsetenv("AZURE_TENANT_ID");
  try {
    config_from_env();
    FAIL() << "a missing tenant must be refused";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("AZURE_TENANT_ID"), std::string::npos);
  }
  setenv("AZURE_TENANT_ID", "t", 1);
  setenv("AZURE_ENVIRONMENT", "Mars", 1);
  try {
    config_from_env();
    FAIL() << "an unknown cloud must be refused";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("AZURE_ENVIRONMENT"), std::string::npos);
  }
  setenv("AZURE_ENVIRONMENT", "AzureUSGovernmentCloud", 1);
  unsetenv("PROXY_IMAGE");
  setenv("PROXY_INIT_IMAGE", "registry.test/init:2", 1);
  Config c = config_from_env();
  EXPECT_EQ(c.tenant_id, "t");
  EXPECT_EQ(c.authority_host, "https://login.microsoftonline.us/");
  EXPECT_EQ(c.proxy_image, std::string("ghcr.io/azwi/azwi-proxy:v") + AZWI_VERSION);
  EXPECT_EQ(c.proxy_init_image, "registry.test/init:2");
  EXPECT_TRUE(c.proxy_ca_configmap.empty()) << "no CA ConfigMap unless asked for";
}

TEST(Config, AuthorityHostOverridesTheCloud) {
  Config c = config_with_env({{"AZURE_TENANT_ID", "t"}, {"AZURE_ENVIRONMENT", "AzureUSGovernmentCloud"},
                              {"AZURE_AUTHORITY_HOST", "https://azwi-emulator.azwi-system.svc:8443"}});
  EXPECT_EQ(c.authority_host, "https://azwi-emulator.azwi-system.svc:8443/");
  // Empty counts as unset: the cloud's authority.
  c = config_with_env({{"AZURE_TENANT_ID", "t"}, {"AZURE_ENVIRONMENT", "AzureChinaCloud"}, {"AZURE_AUTHORITY_HOST", ""}});
  EXPECT_EQ(c.authority_host, "https://login.chinacloudapi.cn/");
  // The cloud is still checked.
  EXPECT_THROW(config_with_env({{"AZURE_TENANT_ID", "t"}, {"AZURE_ENVIRONMENT", "Mars"},
                                {"AZURE_AUTHORITY_HOST", "https://login.example/"}}),
               std::runtime_error);
}

TEST(Config, AuthorityHostNormalisation) {
  EXPECT_EQ(normalize_authority_host("https://login.example"), "https://login.example/");
  EXPECT_EQ(normalize_authority_host("https://login.example/"), "https://login.example/");
  EXPECT_EQ(normalize_authority_host("HTTPS://Login.Example:443/a/b"), "https://Login.Example:443/a/b/");
  EXPECT_EQ(normalize_authority_host("https://10.1.2.3:8443/"), "https://10.1.2.3:8443/");
  EXPECT_EQ(normalize_authority_host("https://[fd00::1]:8443"), "https://[fd00::1]:8443/");
  EXPECT_EQ(normalize_authority_host("https://[fd00::1]"), "https://[fd00::1]/");
}

TEST(Config, BadAuthorityHostsStopStartUpNamingTheProblem) {
  const std::pair<const char*, const char*> bad[] = {
      {"http://login.example/", "scheme is http"},
      {"login.example", "not an absolute URL"},
      {"/login", "not an absolute URL"},
      {"://login.example", "not an absolute URL"},
      {"ftp://login.example/", "scheme is ftp"},
      {"https://", "no host"},
      {"https:///tenant", "no host"},
      {"https://user:pw@login.example/", "user info"},
      {"https://login.example/?x=1", "query"},
      {"https://login.example/#frag", "fragment"},
      {"https://login.example:0/", "port"},
      {"https://login.example:99999/", "port"},
      {"https://login.example:/", "port is empty"},
      {"https://login.example:abc/", "port"},
      {"https://login!example/", "host"},
      {"https://[fd00::1/", "IPv6"},
      {"https://login.example/a b", "space"},
      {" https://login.example/", "space"},
      {"https://login.example/\"", "'\"'"},
  };
  for (const auto& [value, problem] : bad) {
    try {
      config_with_env({{"AZURE_TENANT_ID", "t"}, {"AZURE_AUTHORITY_HOST", value}});
      ADD_FAILURE() << value << " must be refused";
    } catch (const std::runtime_error& e) {
      std::string what = e.what();
      EXPECT_EQ(what.rfind(std::string("AZURE_AUTHORITY_HOST=\"") + value + "\" is not usable: ", 0), 0u) << what;
      EXPECT_NE(what.find(problem), std::string::npos) << value << ": " << what;
    }
  }
}

TEST(Config, ProxyCAConfigMap) {
  Config c = config_with_env({{"AZURE_TENANT_ID", "t"}, {"PROXY_CA_CONFIGMAP", "emulator-ca"}});
  EXPECT_EQ(c.proxy_ca_configmap, "emulator-ca");
  EXPECT_EQ(c.proxy_ca_key, "ca.crt");
  c = config_with_env({{"AZURE_TENANT_ID", "t"}, {"PROXY_CA_CONFIGMAP", "private-cloud.roots:Roots_2024.pem"}});
  EXPECT_EQ(c.proxy_ca_configmap, "private-cloud.roots");
  EXPECT_EQ(c.proxy_ca_key, "Roots_2024.pem");
  c = config_with_env({{"AZURE_TENANT_ID", "t"}, {"PROXY_CA_CONFIGMAP", ""}});
  EXPECT_TRUE(c.proxy_ca_configmap.empty());
  const std::pair<const char*, const char*> bad[] = {
      {":ca.crt", "name is empty"},      {"Emulator-CA", "not a Kubernetes name"},
      {"-ca", "not a Kubernetes name"},  {"ca.", "not a Kubernetes name"},
      {"a..b", "not a Kubernetes name"}, {"ca/x", "not a Kubernetes name"},
      {"ca:", "key after ':' is empty"}, {"ca:a/b", "not a ConfigMap key"},
      {"ca:..", "not a ConfigMap key"},  {"ca:a:b", "not a ConfigMap key"},
  };
  for (const auto& [value, problem] : bad) {
    try {
      config_with_env({{"AZURE_TENANT_ID", "t"}, {"PROXY_CA_CONFIGMAP", value}});
      ADD_FAILURE() << value << " must be refused";
    } catch (const std::runtime_error& e) {
      std::string what = e.what();
      EXPECT_EQ(what.rfind(std::string("PROXY_CA_CONFIGMAP=\"") + value + "\" is not usable: ", 0), 0u) << what;
      EXPECT_NE(what.find(problem), std::string::npos) << value << ": " << what;
    }
  }
  EXPECT_THROW(parse_proxy_ca_configmap(std::string(254, 'a')), std::invalid_argument);
  EXPECT_EQ(parse_proxy_ca_configmap(std::string(253, 'a')).first, std::string(253, 'a'));
}

TEST(Config, TokenLayoutNames) {
  EXPECT_EQ(parse_token_layout("v1.6"), TokenLayout::v1_6);
  EXPECT_EQ(parse_token_layout("v1.5"), TokenLayout::v1_5);
  EXPECT_FALSE(parse_token_layout("1.5"));
  EXPECT_FALSE(parse_token_layout(""));
  EXPECT_EQ(Config{}.token_layout, TokenLayout::v1_6) << "v1.6 is the default, as upstream";
}

TEST(Config, ResourcesSyntax) {
  Resources r = parse_resources("requests.cpu=5m,limits.memory=1.5Gi", kDefaultProxyResources);
  EXPECT_EQ(r, (Resources{"5m", "16Mi", "200m", "1.5Gi"}));
  r = parse_resources("requests.cpu=5m,limits.memory=1e3,limits.cpu=", kDefaultProxyResources);
  EXPECT_EQ(r, (Resources{"5m", "16Mi", "", "1e3"}));
  EXPECT_EQ(parse_resources("", kDefaultProxyInitResources), kDefaultProxyInitResources);
  for (std::string bad : {"cpu=1", "requests.cpu", "requests.cpu=1x", "requests.cpu=1, limits.cpu=2", "requests.cpu=-1", "limits.memory=1 Gi",
                          "requests.cpu=.", "limits.memory=64MiB"}) {
    EXPECT_THROW(parse_resources(bad, {}), std::invalid_argument) << bad;
  }
}

// custom_token_endpoint_from with exactly these AZURE_KUBERNETES_* variables: "" when it accepts, else its message.
std::string custom_endpoint_error(std::string_view suffix, std::string_view audience,
                                  const std::map<std::string, std::string>& vars) {
  Config cleared;
  custom_endpoint({})(cleared);  // unsets every AZURE_KUBERNETES_* variable
  for (const auto& [k, v] : vars) setenv(k.c_str(), v.c_str(), 1);
  std::string message;
  try {
    custom_token_endpoint_from(suffix, audience);
  } catch (const std::runtime_error& e) {
    message = e.what();
  }
  for (const auto& [k, v] : vars) unsetenv(k.c_str());
  return message;
}

TEST(Config, CustomTokenEndpointRefusesEveryInconsistentSetting) {
  const std::map<std::string, std::string> proxy = {{"AZURE_KUBERNETES_TOKEN_PROXY", "https://binding.test"}};
  EXPECT_FALSE(custom_token_endpoint_from("", "")) << "off without both flags";
  EXPECT_EQ(custom_endpoint_error("identity-binding", "api://AKSIdentityBinding", proxy), "");
  auto refused = [&](std::string_view suffix, std::string_view audience, std::map<std::string, std::string> vars,
                     std::string_view names) {
    std::string message = custom_endpoint_error(suffix, audience, vars);
    EXPECT_NE(message.find(names), std::string::npos) << "message: \"" << message << "\" for " << suffix << " " << audience;
  };
  refused("binding", "", proxy, "--custom-token-endpoint-annotation-suffix is set without --custom-token-endpoint-audience");
  refused("", "api://x", proxy, "--custom-token-endpoint-audience is set without");
  refused("binding", "api://AzureADTokenExchange", proxy, "is the audience of the Entra ID exchange");
  refused("bad/suffix", "api://x", proxy, "does not make a valid annotation key");
  refused("ends-", "api://x", proxy, "does not make a valid annotation key");
  refused(std::string(60, 'a'), "api://x", proxy, "does not make a valid annotation key");
  EXPECT_EQ(custom_endpoint_error(std::string(59, 'a'), "api://x", proxy), "");
  refused("b", "api://x", {{"AZURE_KUBERNETES_TOKEN_PROXY", "http://binding.test"}}, "AZURE_KUBERNETES_TOKEN_PROXY");
  refused("b", "api://x", {{"AZURE_KUBERNETES_TOKEN_PROXY", "https://u@binding.test"}}, "user info");
  refused("b", "api://x", {{"AZURE_KUBERNETES_TOKEN_PROXY", "https://binding.test/?a=b"}}, "query");
  refused("b", "api://x", {{"AZURE_KUBERNETES_TOKEN_PROXY", "https://binding.test/#f"}}, "fragment");
  refused("b", "api://x", {{"AZURE_KUBERNETES_SNI_NAME", "x"}}, "without AZURE_KUBERNETES_TOKEN_PROXY");
  refused("b", "api://x",
          {{"AZURE_KUBERNETES_TOKEN_PROXY", "https://binding.test"}, {"AZURE_KUBERNETES_CA_DATA", "pem"},
           {"AZURE_KUBERNETES_CA_CONFIGMAP_NAME", "ca"}},
          "choose one CA source");
  refused("b", "api://x",
          {{"AZURE_KUBERNETES_TOKEN_PROXY", "https://binding.test"}, {"AZURE_KUBERNETES_CA_CTB_SIGNER_NAME", "s/x"},
           {"AZURE_KUBERNETES_CA_CONFIGMAP_NAME", "ca"}},
          "choose one CA source");
  refused("b", "api://x",
          {{"AZURE_KUBERNETES_TOKEN_PROXY", "https://binding.test"}, {"AZURE_KUBERNETES_CA_CTB_LABEL_SELECTOR", "{}"}},
          "without AZURE_KUBERNETES_CA_CTB_SIGNER_NAME");
  refused("b", "api://x",
          {{"AZURE_KUBERNETES_TOKEN_PROXY", "https://binding.test"}, {"AZURE_KUBERNETES_CA_CTB_SIGNER_NAME", "s/x"},
           {"AZURE_KUBERNETES_CA_CTB_LABEL_SELECTOR", "[1]"}},
          "is not a JSON label selector");
  refused("b", "api://x",
          {{"AZURE_KUBERNETES_TOKEN_PROXY", "https://binding.test"}, {"AZURE_KUBERNETES_CA_CONFIGMAP_NAME", "Bad_Name"}},
          "AZURE_KUBERNETES_CA_CONFIGMAP_NAME");
}
