#pragma once
#include <chrono>
#include <cstdint>

namespace azwi::proxy {
// Polls http://127.0.0.1:<port>/readyz until it answers 200; returns the process exit code (0 ready, 1 not).
int run_probe(std::uint16_t port, int tries = 7, std::chrono::milliseconds interval = std::chrono::seconds(1));
}  // namespace azwi::proxy
