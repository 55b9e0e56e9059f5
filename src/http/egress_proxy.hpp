#pragma once
// The egress proxy a pod is told about through HTTPS_PROXY / HTTP_PROXY / NO_PROXY (AKS injects them when the
// cluster has an egress proxy), read the way Go's net/http reads them, so the proxy behaves like the upstream.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace azwi::http {

struct ProxyServer {
  std::string host;
  std::uint16_t port = 0;
  std::string authorization;  // "Basic ..." when the URL carried user:password, else empty
};

class EgressProxySettings {
 public:
  // Reads HTTPS_PROXY/https_proxy, HTTP_PROXY/http_proxy, NO_PROXY/no_proxy (upper case first, as Go does).
  static EgressProxySettings from_environment();
  // Values as given; a proxy URL without a scheme is taken as http://host:port. Invalid URLs are ignored with
  // `problems` saying why (the caller logs them).
  EgressProxySettings(std::string_view https_proxy, std::string_view http_proxy, std::string_view no_proxy);

  // The proxy to use for a request to scheme://host:port, or nullopt to connect directly.
  std::optional<ProxyServer> proxy_for(std::string_view scheme, std::string_view host, std::uint16_t port) const;
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  struct Bypass {
    std::string host;      // lower-case; leading '.' stripped
    bool suffix = false;   // matches the host and its subdomains
    std::optional<std::pair<std::string, int>> cidr;  // address text, prefix length
    std::uint16_t port = 0;  // 0: any port
  };
  bool bypassed(std::string_view host, std::uint16_t port) const;
  std::optional<ProxyServer> https_, http_;
  std::vector<Bypass> bypass_;
  bool bypass_all_ = false;
  std::vector<std::string> problems_;
};

}  // namespace azwi::http
