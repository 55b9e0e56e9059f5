#include "netredirect/backend.hpp"

namespace azwi::netredirect {

std::string_view backend_name(Backend b) { return b == Backend::nft ? "nft" : "legacy"; }

std::optional<Backend> parse_backend(std::string_view s) {
  if (s == "nft") return Backend::nft;
  if (s == "legacy") return Backend::legacy;
  return std::nullopt;
}

Backend other_backend(Backend b) { return b == Backend::nft ? Backend::legacy : Backend::nft; }

std::string save_program(Backend b) { return "iptables-" + std::string(backend_name(b)) + "-save"; }
std::string restore_program(Backend b) { return "iptables-" + std::string(backend_name(b)) + "-restore"; }

BackendChoice choose_backend(const BackendProbe& nft, const BackendProbe& legacy) {
  auto counts = [&] {
    return " (nft: " + std::to_string(nft.rules) + " rules, legacy: " + std::to_string(legacy.rules) + " rules)";
  };
  if (nft.usable && !legacy.usable)
    return {Backend::nft, "only the nft backend could be read (legacy: " + legacy.problem + ")"};
  if (legacy.usable && !nft.usable)
    return {Backend::legacy, "only the legacy backend could be read (nft: " + nft.problem + ")"};
  if (!nft.usable && !legacy.usable) return {Backend::nft, "neither backend could be read; trying the default nft"};
  if (legacy.rules > nft.rules) return {Backend::legacy, "the pod's existing rules are in the legacy backend" + counts()};
  if (nft.rules > 0) return {Backend::nft, "the pod's existing rules are in the nft backend" + counts()};
  return {Backend::nft, "no existing rules in either backend; nft is the default" + counts()};
}

}  // namespace azwi::netredirect
