#include "netredirect/config.hpp"

#include <arpa/inet.h>

#include <charconv>

namespace azwi::netredirect {
namespace {

// Strict decimal: digits only, no sign, no spaces, no hex, no leading zeros beyond "0" itself.
std::optional<std::uint64_t> parse_decimal(std::string_view s) {
  if (s.empty() || s.size() > 12) return std::nullopt;
  if (s.size() > 1 && s[0] == '0') return std::nullopt;
  for (char c : s)
    if (c < '0' || c > '9') return std::nullopt;
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string invalid(const char* name, std::string_view value, std::string_view expected) {
  std::string msg = name;
  msg += "=\"";
  msg += value;
  msg += "\" is invalid: expected ";
  msg += expected;
  return msg;
}

}  // namespace

std::variant<Config, std::string> config_from_env(const EnvLookup& lookup) {
  Config c;
  auto get = [&](const char* name) -> std::optional<std::string> {
    auto v = lookup(name);
    if (v && v->empty()) return std::nullopt;
    return v;
  };

  if (auto v = get("PROXY_PORT")) {
    auto n = parse_decimal(*v);
    if (!n || *n < 1 || *n > 65535) return invalid("PROXY_PORT", *v, "a TCP port 1..65535 (the azwi-proxy port)");
    c.proxy_port = static_cast<int>(*n);
  }
  if (auto v = get("METADATA_IP")) {
    in_addr addr{};
    // inet_pton accepts only the dotted-quad form, which is what iptables-save prints back.
    if (inet_pton(AF_INET, v->c_str(), &addr) != 1)
      return invalid("METADATA_IP", *v, "an IPv4 address in dotted-quad form, such as 169.254.169.254");
    char canonical[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &addr, canonical, sizeof canonical);
    c.metadata_ip = canonical;
  }
  if (auto v = get("METADATA_PORT")) {
    auto n = parse_decimal(*v);
    if (!n || *n < 1 || *n > 65535) return invalid("METADATA_PORT", *v, "a TCP port 1..65535");
    c.metadata_port = static_cast<int>(*n);
  }
  if (auto v = get("PROXY_UID")) {
    auto n = parse_decimal(*v);
    // 4294967295 is (uid_t)-1, which no process can have.
    if (!n || *n > 4294967294ULL) return invalid("PROXY_UID", *v, "a numeric user ID 0..4294967294 (the azwi-proxy UID)");
    c.proxy_uid = static_cast<std::uint32_t>(*n);
  }
  return c;
}

}  // namespace azwi::netredirect
