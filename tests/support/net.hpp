#pragma once
// Network helpers for integration tests; loopback only.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "http/client_types.hpp"

namespace azwi::test {

// A port that was free a moment ago on 127.0.0.1.
std::uint16_t free_port();
// True once something accepts TCP connections on 127.0.0.1:port.
bool wait_for_port(std::uint16_t port, std::chrono::milliseconds timeout);

// One HTTP request through the libcurl test client (support/curl_client.hpp; ca_file empty: system trust).
http::ClientResponse http_request(const std::string& method, const std::string& url, http::HeaderList headers = {},
                                  std::string body = {}, const std::string& ca_file = {});

// Writes raw bytes to 127.0.0.1:port and reads until the peer closes or timeout; nullopt on connect failure.
struct RawResult {
  std::string received;
  bool closed_by_peer = false;
  std::chrono::milliseconds elapsed{};
};
std::optional<RawResult> raw_exchange(std::uint16_t port, const std::string& bytes, std::chrono::milliseconds timeout);

}  // namespace azwi::test
