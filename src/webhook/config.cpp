#include "webhook/config.hpp"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cctype>
#include <regex>
#include <stdexcept>
#include <tuple>

#include "common/text.hpp"
#include "common/env.hpp"
#include "identity/authority.hpp"
#include "common/base64.hpp"
#include "jwt/digest.hpp"

namespace azwi::webhook {

std::optional<std::string> authority_host_for(std::string_view cloud) {
  std::string lower = ascii::to_lower(cloud);
  if (lower.empty() || lower == "azurepubliccloud") return "https://login.microsoftonline.com/";
  if (lower == "azurechinacloud") return "https://login.chinacloudapi.cn/";
  if (lower == "azureusgovernmentcloud") return "https://login.microsoftonline.us/";
  return std::nullopt;
}

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_lower_alnum(char c) { return is_digit(c) || (c >= 'a' && c <= 'z'); }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

}  // namespace

std::pair<std::string, std::string> parse_proxy_ca_configmap(std::string_view value) {
  auto colon = value.find(':');
  std::string_view name = value.substr(0, colon);
  std::string_view key = colon == std::string_view::npos ? kDefaultProxyCAKey : value.substr(colon + 1);
  if (name.empty()) throw std::invalid_argument("the ConfigMap name is empty: expected NAME or NAME:KEY");
  if (name.size() > 253) throw std::invalid_argument("the ConfigMap name is longer than 253 characters");
  // A DNS subdomain: dot-separated labels of lowercase letters, digits and '-', each starting and ending with a
  // letter or digit.
  bool valid = true;
  for (std::string_view rest = name; valid;) {
    std::string_view label = rest.substr(0, rest.find('.'));
    valid = !label.empty() && is_lower_alnum(label.front()) && is_lower_alnum(label.back()) &&
            std::all_of(label.begin(), label.end(), [](char c) { return is_lower_alnum(c) || c == '-'; });
    if (label.size() == rest.size()) break;
    rest.remove_prefix(label.size() + 1);
  }
  if (!valid)
    throw std::invalid_argument("the ConfigMap name \"" + std::string(name) +
                                "\" is not a Kubernetes name (lowercase letters, digits, '-' and '.', starting and "
                                "ending with a letter or digit)");
  if (key.empty()) throw std::invalid_argument("the key after ':' is empty: expected NAME or NAME:KEY");
  if (key.size() > 253 || key == "." || key == ".." ||
      !std::all_of(key.begin(), key.end(),
                   [](char c) { return is_digit(c) || is_alpha(c) || c == '-' || c == '_' || c == '.'; }))
    throw std::invalid_argument("the key \"" + std::string(key) +
                                "\" is not a ConfigMap key (letters, digits, '-', '_' and '.', at most 253)");
  return {std::string(name), std::string(key)};
}

std::optional<TokenLayout> parse_token_layout(std::string_view value) {
  if (value == "v1.6") return TokenLayout::v1_6;
  if (value == "v1.5") return TokenLayout::v1_5;
  return std::nullopt;
}

Resources parse_resources(std::string_view value, Resources base) {
  // A Kubernetes quantity that is not negative: digits with an optional fraction, then a binary or decimal suffix
  // or an exponent.
  static const std::regex quantity(R"(^([0-9]+(\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?$)");
  while (!value.empty()) {
    auto comma = value.find(',');
    std::string_view item = value.substr(0, comma);
    value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
    if (item.empty()) continue;
    auto eq = item.find('=');
    if (eq == std::string_view::npos)
      throw std::invalid_argument("\"" + std::string(item) + "\" is not KEY=QUANTITY");
    std::string_view key = item.substr(0, eq), q = item.substr(eq + 1);
    std::string* target = key == "requests.cpu"      ? &base.cpu_request
                          : key == "requests.memory" ? &base.memory_request
                          : key == "limits.cpu"      ? &base.cpu_limit
                          : key == "limits.memory"   ? &base.memory_limit
                                                     : nullptr;
    if (!target)
      throw std::invalid_argument("unknown key \"" + std::string(key) +
                                  "\": use requests.cpu, requests.memory, limits.cpu or limits.memory");
    if (!q.empty() && !std::regex_match(q.begin(), q.end(), quantity))
      throw std::invalid_argument(std::string(key) + "=\"" + std::string(q) +
                                  "\" is not a Kubernetes quantity (e.g. 100m, 0.5, 64Mi, 1G)");
    *target = std::string(q);
  }
  return base;
}

std::string new_identity_secret() { return azwi::base64url_encode(jwt::random_bytes(32)); }

std::string default_proxy_image() { return std::string("ghcr.io/azwi/azwi-proxy:v") + AZWI_VERSION; }
std::string default_proxy_init_image() { return std::string("ghcr.io/azwi/azwi-proxy-init:v") + AZWI_VERSION; }

Config config_from_env() {
  Config c;
  auto tenant = env("AZURE_TENANT_ID");
  if (!tenant)
    throw std::runtime_error(
        "AZURE_TENANT_ID is not set: set it to the tenant of your identities (the default for service accounts "
        "without an azure.workload.identity/tenant-id annotation)");
  c.tenant_id = *tenant;
  auto cloud = env_or("AZURE_ENVIRONMENT", "");
  auto host = authority_host_for(cloud);
  if (!host)
    throw std::runtime_error("AZURE_ENVIRONMENT=\"" + cloud +
                             "\" is not a known cloud: use AzurePublicCloud, AzureChinaCloud or AzureUSGovernmentCloud");
  c.authority_host = *host;
  if (auto override_host = env("AZURE_AUTHORITY_HOST")) {
    try {
      c.authority_host = identity::normalize_authority_host(*override_host);
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error("AZURE_AUTHORITY_HOST=\"" + *override_host + "\" is not usable: " + e.what());
    }
  }
  c.proxy_image = env_or("PROXY_IMAGE", default_proxy_image());
  c.proxy_init_image = env_or("PROXY_INIT_IMAGE", default_proxy_init_image());
  if (auto ca = env("PROXY_CA_CONFIGMAP")) {
    try {
      std::tie(c.proxy_ca_configmap, c.proxy_ca_key) = parse_proxy_ca_configmap(*ca);
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error("PROXY_CA_CONFIGMAP=\"" + *ca + "\" is not usable: " + e.what());
    }
  }
  return c;
}

std::optional<CustomTokenEndpoint> custom_token_endpoint_from(std::string_view suffix, std::string_view audience) {
  if (suffix.empty() && audience.empty()) return std::nullopt;
  if (suffix.empty() || audience.empty())
    throw std::runtime_error(std::string(suffix.empty() ? "--custom-token-endpoint-audience" :
                                                          "--custom-token-endpoint-annotation-suffix") +
                             " is set without " +
                             (suffix.empty() ? "--custom-token-endpoint-annotation-suffix" :
                                               "--custom-token-endpoint-audience") +
                             ": the custom token endpoint needs both");
  if (audience == kDefaultAudience)
    throw std::runtime_error("--custom-token-endpoint-audience=" + std::string(audience) +
                             " is the audience of the Entra ID exchange: the token endpoint needs its own");
  CustomTokenEndpoint e;
  e.annotation = "azure.workload.identity/use-" + std::string(suffix);
  // The key's name part: at most 63 characters, alphanumerics with '-', '_' and '.' inside.
  std::string_view name = std::string_view(e.annotation).substr(e.annotation.find('/') + 1);
  auto alnum = [](char c) { return is_digit(c) || is_alpha(c); };
  if (name.size() > 63 || !alnum(name.back()) ||
      !std::all_of(name.begin(), name.end(), [&](char c) { return alnum(c) || c == '-' || c == '_' || c == '.'; }))
    throw std::runtime_error("--custom-token-endpoint-annotation-suffix=\"" + std::string(suffix) +
                             "\" does not make a valid annotation key (" + e.annotation +
                             "): letters, digits, '-', '_' and '.', ending with a letter or digit, at most 59");
  e.audience = std::string(audience);
  e.token_proxy = env_or("AZURE_KUBERNETES_TOKEN_PROXY", "");
  e.sni_name = env_or("AZURE_KUBERNETES_SNI_NAME", "");
  e.ca_data = env_or("AZURE_KUBERNETES_CA_DATA", "");
  e.ca_configmap = env_or("AZURE_KUBERNETES_CA_CONFIGMAP_NAME", "");
  e.ctb_signer = env_or("AZURE_KUBERNETES_CA_CTB_SIGNER_NAME", "");
  std::string selector = env_or("AZURE_KUBERNETES_CA_CTB_LABEL_SELECTOR", "");
  if (!e.token_proxy.empty()) {
    try {
      identity::normalize_authority_host(e.token_proxy);
    } catch (const std::invalid_argument& err) {
      throw std::runtime_error("AZURE_KUBERNETES_TOKEN_PROXY=\"" + e.token_proxy + "\" is not usable: " + err.what());
    }
  } else if (!e.sni_name.empty() || !e.ca_data.empty() || !e.ca_configmap.empty() || !e.ctb_signer.empty()) {
    throw std::runtime_error(
        "AZURE_KUBERNETES_SNI_NAME or a CA is set without AZURE_KUBERNETES_TOKEN_PROXY: the SDKs refuse that "
        "configuration; set the token proxy's URL");
  }
  int sources = !e.ca_data.empty() + !e.ca_configmap.empty() + !e.ctb_signer.empty();
  if (sources > 1)
    throw std::runtime_error(
        "more than one of AZURE_KUBERNETES_CA_DATA, AZURE_KUBERNETES_CA_CONFIGMAP_NAME and "
        "AZURE_KUBERNETES_CA_CTB_SIGNER_NAME is set: choose one CA source");
  if (!e.ca_configmap.empty()) {
    try {
      parse_proxy_ca_configmap(e.ca_configmap + ":ca.crt");
    } catch (const std::invalid_argument& err) {
      throw std::runtime_error("AZURE_KUBERNETES_CA_CONFIGMAP_NAME=\"" + e.ca_configmap + "\" is not usable: " + err.what());
    }
  }
  if (!selector.empty()) {
    if (e.ctb_signer.empty())
      throw std::runtime_error("AZURE_KUBERNETES_CA_CTB_LABEL_SELECTOR is set without AZURE_KUBERNETES_CA_CTB_SIGNER_NAME");
    boost::json::error_code ec;
    auto v = boost::json::parse(selector, ec);
    bool shape = !ec && v.is_object() && std::all_of(v.get_object().begin(), v.get_object().end(), [](const auto& kv) {
      return kv.key() == "matchLabels" || kv.key() == "matchExpressions";
    });
    if (!shape)
      throw std::runtime_error("AZURE_KUBERNETES_CA_CTB_LABEL_SELECTOR=\"" + selector +
                               "\" is not a JSON label selector ({\"matchLabels\":{...}} or matchExpressions)");
    e.ctb_label_selector = boost::json::serialize(v);
  }
  return e;
}

}  // namespace azwi::webhook
