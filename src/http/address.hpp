#pragma once
// Listen addresses as the upstream flags write them: ":9443", "127.0.0.1:8000", "[::1]:80", "localhost:80".
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace azwi::http {

struct HostPort {
  std::string host;  // empty: all interfaces
  std::uint16_t port = 0;
};

// nullopt when the text is not host:port with a port in 0..65535.
std::optional<HostPort> parse_host_port(std::string_view text);

}  // namespace azwi::http
