#pragma once
// The rule plan: a pure function of the settings and the current nat table, giving the input for one
// `iptables-restore --noflush` transaction (all of it applies, or none of it).
#include <string>
#include <string_view>
#include <vector>

#include "netredirect/config.hpp"
#include "netredirect/nat_table.hpp"

namespace azwi::netredirect {

inline constexpr std::string_view kOutputChain = "AZWI_PROXY_OUTPUT";
inline constexpr std::string_view kRedirectChain = "AZWI_PROXY_REDIRECT";

// The rules proxy-init owns, spelled exactly as iptables-save prints them back (so a saved table can be compared
// with them line by line), in the order they are appended:
//   -A AZWI_PROXY_REDIRECT -p tcp -j REDIRECT --to-ports <PROXY_PORT>
//   -A OUTPUT -d <METADATA_IP>/32 -p tcp -m tcp --dport <METADATA_PORT> -j AZWI_PROXY_OUTPUT
//   -A AZWI_PROXY_OUTPUT -m owner --uid-owner <PROXY_UID> -j ACCEPT
//   -A AZWI_PROXY_OUTPUT -j AZWI_PROXY_REDIRECT
std::vector<std::string> desired_rules(const Config& config);

struct Plan {
  bool changes = false;               // false: the table is already as wanted, nothing needs to run
  std::string restore_input;          // the iptables-restore --noflush input; empty when !changes
  std::vector<std::string> removing;  // rules of ours currently in the table that the transaction deletes
  std::vector<std::string> adding;    // rules the transaction appends
};

// Install (or replace) the redirect. Any jump to our chains from another chain is deleted, our chains are flushed
// (declaring a chain in --noflush mode empties it) and refilled, and exactly one OUTPUT jump is appended, so a rerun
// never stacks rules and a run with other settings replaces the old ones. Rules that are not ours are untouched.
Plan plan_install(const Config& config, const NatTable& current);

// Remove what plan_install put there: the jumps to our chains, then the chains themselves.
Plan plan_cleanup(const NatTable& current);

// True when the table holds exactly our rules for this config: both chains with the wanted rules and one jump.
bool is_installed(const Config& config, const NatTable& table);

// True when nothing of ours is left: no chain of ours and no jump to one.
bool is_clean(const NatTable& table);

}  // namespace azwi::netredirect
