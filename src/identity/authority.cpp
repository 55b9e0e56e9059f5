#include "identity/authority.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "common/text.hpp"

namespace azwi::identity {

std::string scope_for_resource(std::string_view resource) {
  constexpr std::string_view suffix = "/.default";
  std::string scope(resource);
  if (!resource.ends_with(suffix)) scope += suffix;
  return scope;
}

std::string token_endpoint(std::string_view authority_host, std::string_view tenant) {
  std::string url(authority_host);
  if (url.empty() || url.back() != '/') url += '/';
  url += tenant;
  url += "/oauth2/v2.0/token";
  return url;
}

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
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
  std::string scheme = ascii::to_lower(value.substr(0, colon));
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

}  // namespace azwi::identity
