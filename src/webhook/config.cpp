#include "webhook/config.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <tuple>

#include "common/env.hpp"
#include "jwt/base64url.hpp"
#include "jwt/digest.hpp"

namespace azwi::webhook {

std::optional<std::string> authority_host_for(std::string_view cloud) {
  std::string lower(cloud);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
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

std::string normalize_authority_host(std::string_view value) {
  for (char c : value) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) throw std::invalid_argument("it contains a space, a control or a non-ASCII character");
    if (std::string_view("\"<>\\^`{|}").find(c) != std::string_view::npos)
      throw std::invalid_argument(std::string("it contains '") + c + "', which a URL cannot hold unescaped");
  }
  auto colon = value.find("://");
  if (colon == std::string_view::npos || colon == 0)
    throw std::invalid_argument("it is not an absolute URL: expected https://<host>/");
  std::string scheme(value.substr(0, colon));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(), [](unsigned char c) { return std::tolower(c); });
  if (scheme != "https")
    throw std::invalid_argument("its scheme is " + scheme + ": the Azure SDKs only use an https authority");
  std::string_view rest = value.substr(colon + 3);
  if (rest.find('?') != std::string_view::npos) throw std::invalid_argument("it has a query ('?')");
  if (rest.find('#') != std::string_view::npos) throw std::invalid_argument("it has a fragment ('#')");
  std::string_view authority = rest.substr(0, rest.find('/'));
  std::string_view path = rest.substr(authority.size());
  if (authority.find('@') != std::string_view::npos) throw std::invalid_argument("it has user info ('...@')");
  std::string_view host = authority, port;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) throw std::invalid_argument("its IPv6 address has no closing ']'");
    for (char c : authority.substr(1, close - 1))
      if (!is_digit(c) && !(c >= 'a' && c <= 'f') && !(c >= 'A' && c <= 'F') && c != ':' && c != '.')
        throw std::invalid_argument("its IPv6 address is not valid");
    host = authority.substr(0, close + 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty() && after.front() != ':') throw std::invalid_argument("its host is not valid");
    if (!after.empty()) port = after.substr(1);
    if (after == ":") throw std::invalid_argument("its port is empty");
  } else if (auto c = authority.find(':'); c != std::string_view::npos) {
    host = authority.substr(0, c);
    port = authority.substr(c + 1);
    if (port.empty()) throw std::invalid_argument("its port is empty");
  }
  if (host.empty() || host == "[]") throw std::invalid_argument("it has no host");
  if (host.front() != '[')
    for (char c : host)
      if (!is_digit(c) && !is_alpha(c) && c != '-' && c != '.' && c != '_')
        throw std::invalid_argument("its host \"" + std::string(host) + "\" is not a DNS name or IP address");
  if (!port.empty()) {
    bool digits = port.size() <= 5 && std::all_of(port.begin(), port.end(), is_digit);
    if (!digits || std::stoi(std::string(port)) < 1 || std::stoi(std::string(port)) > 65535)
      throw std::invalid_argument("its port \"" + std::string(port) + "\" is not a number from 1 to 65535");
  }
  std::string out = "https://";
  out.append(authority);
  out.append(path);
  if (out.back() != '/') out += '/';
  return out;
}

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

std::string new_identity_secret() { return jwt::base64url_encode(jwt::random_bytes(32)); }

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
      c.authority_host = normalize_authority_host(*override_host);
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

}  // namespace azwi::webhook
