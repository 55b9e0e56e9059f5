#include "http/egress_proxy.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>
#include <boost/url/parse.hpp>
#include <algorithm>
#include <charconv>

#include "common/text.hpp"
#include "common/base64.hpp"
#include "common/env.hpp"

namespace azwi::http {
namespace {



std::optional<ProxyServer> parse_proxy(std::string_view name, std::string_view value,
                                       std::vector<std::string>& problems) {
  std::string text(ascii::trim(value));
  if (text.empty()) return std::nullopt;
  if (text.find("://") == std::string::npos) text = "http://" + text;
  auto u = boost::urls::parse_absolute_uri(text);
  if (!u || u->host().empty()) {
    problems.push_back(std::string(name) + " is not a proxy URL; ignored");
    return std::nullopt;
  }
  if (u->scheme() != "http") {
    problems.push_back(std::string(name) + " uses scheme " + std::string(u->scheme()) +
                       "; only http:// proxies are supported; ignored");
    return std::nullopt;
  }
  ProxyServer p;
  p.host = u->host();
  if (p.host.size() > 2 && p.host.front() == '[') p.host = p.host.substr(1, p.host.size() - 2);
  p.port = u->has_port() ? u->port_number() : 80;
  if (u->has_userinfo()) p.authorization = "Basic " + base64_encode(u->user() + ":" + u->password());
  return p;
}
}  // namespace

EgressProxySettings EgressProxySettings::from_environment() {
  auto pick = [](const char* upper, const char* lower_name) {
    return env(upper).value_or(env(lower_name).value_or(""));
  };
  return EgressProxySettings(pick("HTTPS_PROXY", "https_proxy"), pick("HTTP_PROXY", "http_proxy"),
                             pick("NO_PROXY", "no_proxy"));
}

EgressProxySettings::EgressProxySettings(std::string_view https_proxy, std::string_view http_proxy,
                                         std::string_view no_proxy) {
  https_ = parse_proxy("HTTPS_PROXY", https_proxy, problems_);
  http_ = parse_proxy("HTTP_PROXY", http_proxy, problems_);
  size_t pos = 0;
  while (pos <= no_proxy.size()) {
    size_t comma = no_proxy.find(',', pos);
    std::string entry = ascii::to_lower(ascii::trim(no_proxy.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos)));
    pos = comma == std::string_view::npos ? no_proxy.size() + 1 : comma + 1;
    if (entry.empty()) continue;
    if (entry == "*") {
      bypass_all_ = true;
      continue;
    }
    Bypass b;
    if (auto slash = entry.find('/'); slash != std::string::npos) {
      int bits = 0;
      auto bits_text = entry.substr(slash + 1);
      auto [p, ec] = std::from_chars(bits_text.data(), bits_text.data() + bits_text.size(), bits);
      boost::system::error_code aec;
      auto net = boost::asio::ip::make_address(entry.substr(0, slash), aec);
      int max_bits = !aec && net.is_v4() ? 32 : 128;
      if (ec != std::errc() || p != bits_text.data() + bits_text.size() || aec || bits < 0 || bits > max_bits) {
        problems_.push_back("NO_PROXY entry \"" + entry + "\" is not a valid CIDR; ignored");
        continue;
      }
      b.cidr = std::make_pair(entry.substr(0, slash), bits);
      bypass_.push_back(b);
      continue;
    }
    // host[:port], [v6]:port
    std::string host = entry;
    if (host.front() == '[') {
      auto close = host.find(']');
      if (close != std::string::npos) {
        if (close + 2 < host.size() && host[close + 1] == ':') b.port = static_cast<std::uint16_t>(std::atoi(host.c_str() + close + 2));
        host = host.substr(1, close - 1);
      }
    } else if (auto colon = host.rfind(':'); colon != std::string::npos && host.find(':') == colon) {
      b.port = static_cast<std::uint16_t>(std::atoi(host.c_str() + colon + 1));
      host = host.substr(0, colon);
    }
    if (host.starts_with("*.")) host = host.substr(1);
    if (host.starts_with(".")) {
      b.suffix = true;
      host = host.substr(1);
    } else {
      boost::system::error_code aec;
      boost::asio::ip::make_address(host, aec);
      b.suffix = static_cast<bool>(aec);  // a name covers its subdomains too; an address only itself
    }
    b.host = host;
    bypass_.push_back(b);
  }
}

bool EgressProxySettings::bypassed(std::string_view host_in, std::uint16_t port) const {
  if (bypass_all_) return true;
  std::string host = ascii::to_lower(host_in);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  boost::system::error_code aec;
  auto addr = boost::asio::ip::make_address(host, aec);
  bool is_ip = !aec;
  if (host == "localhost" || (is_ip && addr.is_loopback())) return true;  // as Go does
  for (const auto& b : bypass_) {
    if (b.port && b.port != port) continue;
    if (b.cidr) {
      if (!is_ip) continue;
      try {
        auto net_addr = boost::asio::ip::make_address(b.cidr->first);
        if (addr.is_v4() && net_addr.is_v4()) {
          auto net = boost::asio::ip::make_network_v4(net_addr.to_v4(), b.cidr->second);
          if (boost::asio::ip::make_network_v4(addr.to_v4(), b.cidr->second).network() == net.network()) return true;
        } else if (addr.is_v6() && net_addr.is_v6()) {
          auto net = boost::asio::ip::make_network_v6(net_addr.to_v6(), b.cidr->second);
          if (boost::asio::ip::make_network_v6(addr.to_v6(), b.cidr->second).network() == net.network()) return true;
        }
      } catch (const std::exception&) {
        continue;  // prefix length out of range for this family
      }
      continue;
    }
    if (host == b.host) return true;
    if (b.suffix && host.size() > b.host.size() && host.ends_with(b.host) &&
        host[host.size() - b.host.size() - 1] == '.') {
      return true;
    }
  }
  return false;
}

std::optional<ProxyServer> EgressProxySettings::proxy_for(std::string_view scheme, std::string_view host,
                                                          std::uint16_t port) const {
  const auto& proxy = scheme == "https" ? https_ : http_;
  if (!proxy || bypassed(host, port)) return std::nullopt;
  return proxy;
}

}  // namespace azwi::http
