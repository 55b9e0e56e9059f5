#pragma once
// The two iptables backends shipped by the Debian iptables package: nf_tables (iptables-nft-*) and the legacy
// x_tables one (iptables-legacy-*). Rules must go into the backend that already holds the pod's rules, or the two
// sets would be evaluated independently and in an order nobody chose.
#include <optional>
#include <string>
#include <string_view>

namespace azwi::netredirect {

enum class Backend { nft, legacy };

std::string_view backend_name(Backend b);
std::optional<Backend> parse_backend(std::string_view s);  // "nft" or "legacy"
Backend other_backend(Backend b);
std::string save_program(Backend b);     // iptables-nft-save / iptables-legacy-save
std::string restore_program(Backend b);  // iptables-nft-restore / iptables-legacy-restore

// What reading one backend's full ruleset found.
struct BackendProbe {
  bool usable = false;  // its save program ran and succeeded
  int rules = 0;        // "-A" lines over all tables
  std::string problem;  // why it is not usable, when it is not
};

struct BackendChoice {
  Backend backend = Backend::nft;
  std::string reason;  // one sentence for the log
};

// Prefer the backend that already has rules (the one with more, if both do); otherwise nft, the default of current
// distributions and kube-proxy. A backend that cannot be read is only chosen when the other cannot be read either.
BackendChoice choose_backend(const BackendProbe& nft, const BackendProbe& legacy);

}  // namespace azwi::netredirect
