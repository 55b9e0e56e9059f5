#pragma once
// Projected service-account tokens as the kube-apiserver issues them, signed with the issuer's key ring, and a
// token file kept fresh the way the kubelet does: rewritten atomically once 80% of the token's lifetime has passed.
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "common/clock.hpp"
#include "emulator/keyring.hpp"

namespace azwi::emulator {

struct MintOptions {
  std::string issuer;
  std::string namespace_name = "default";
  std::string service_account = "workload-identity-sa";
  std::string audience = "api://AzureADTokenExchange";
  std::string pod_name;            // empty: no pod in the kubernetes.io claim
  std::int64_t lifetime = 3600;    // seconds
  std::int64_t time_offset = 0;    // shifts iat/nbf/exp (tests: negative for an expired token, positive for a future one)
  jwt::Alg alg = jwt::Alg::RS256;
};

struct MintedToken {
  std::string token;
  std::int64_t iat = 0, exp = 0;
  std::string kid;
};

MintedToken mint_service_account_token(KeyRing& keys, const MintOptions& options, std::int64_t now);

// Writes a token to path, then rewrites it at 80% of each token's lifetime until stop becomes true.
// on_write is told about every write (for logging). Returns when stopped; throws when a write fails.
void keep_token_fresh(KeyRing& keys, const MintOptions& options, const std::filesystem::path& path, Clock& clock,
                      const std::atomic<bool>& stop, const std::function<void(const MintedToken&)>& on_write);

}  // namespace azwi::emulator
