#include "netredirect/plan.hpp"

namespace azwi::netredirect {
namespace {

bool is_our_chain(std::string_view chain) { return chain == kOutputChain || chain == kRedirectChain; }

// Rules in chains that are not ours but jump into ours (normally just the one OUTPUT jump).
std::vector<const SavedRule*> jumps_into_ours(const NatTable& table) {
  std::vector<const SavedRule*> out;
  for (const auto& r : table.rules)
    if (!is_our_chain(r.chain) && is_our_chain(r.target)) out.push_back(&r);
  return out;
}

std::string output_jump(const Config& c) {
  return "-A OUTPUT -d " + c.metadata_ip + "/32 -p tcp -m tcp --dport " + std::to_string(c.metadata_port) + " -j " +
         std::string(kOutputChain);
}

std::vector<std::string> chain_lines(const NatTable& table, std::string_view chain) {
  std::vector<std::string> out;
  for (const auto* r : table.rules_in(chain)) out.push_back(r->line());
  return out;
}

}  // namespace

std::vector<std::string> desired_rules(const Config& c) {
  const std::string out_chain(kOutputChain);
  const std::string redirect_chain(kRedirectChain);
  return {
      "-A " + redirect_chain + " -p tcp -j REDIRECT --to-ports " + std::to_string(c.proxy_port),
      output_jump(c),
      "-A " + out_chain + " -m owner --uid-owner " + std::to_string(c.proxy_uid) + " -j ACCEPT",
      "-A " + out_chain + " -j " + redirect_chain,
  };
}

bool is_installed(const Config& config, const NatTable& table) {
  if (!table.has_chain(kOutputChain) || !table.has_chain(kRedirectChain)) return false;
  auto want = desired_rules(config);
  if (chain_lines(table, kRedirectChain) != std::vector<std::string>{want[0]}) return false;
  if (chain_lines(table, kOutputChain) != std::vector<std::string>{want[2], want[3]}) return false;
  auto jumps = jumps_into_ours(table);
  return jumps.size() == 1 && jumps[0]->line() == want[1];
}

bool is_clean(const NatTable& table) {
  return !table.has_chain(kOutputChain) && !table.has_chain(kRedirectChain) && jumps_into_ours(table).empty();
}

Plan plan_install(const Config& config, const NatTable& current) {
  Plan plan;
  if (is_installed(config, current)) return plan;
  plan.changes = true;
  std::string& in = plan.restore_input;
  in += "*nat\n";
  in.append(":").append(kOutputChain).append(" - [0:0]\n");
  in.append(":").append(kRedirectChain).append(" - [0:0]\n");
  for (const auto* r : jumps_into_ours(current)) {
    // One -D per saved copy: each deletes one, so duplicates left by other tools go too.
    in += "-D " + r->chain + " " + r->spec + "\n";
    plan.removing.push_back(r->line());
  }
  for (const auto& r : current.rules)
    if (is_our_chain(r.chain)) plan.removing.push_back(r.line());
  for (const auto& rule : desired_rules(config)) {
    in += rule + "\n";
    plan.adding.push_back(rule);
  }
  in += "COMMIT\n";
  return plan;
}

Plan plan_cleanup(const NatTable& current) {
  Plan plan;
  if (is_clean(current)) return plan;
  plan.changes = true;
  std::string& in = plan.restore_input;
  in += "*nat\n";
  for (const auto* r : jumps_into_ours(current)) {
    in += "-D " + r->chain + " " + r->spec + "\n";
    plan.removing.push_back(r->line());
  }
  for (const auto& r : current.rules)
    if (is_our_chain(r.chain)) plan.removing.push_back(r.line());
  // A chain is deleted only once it is empty and unreferenced: flush both (the jumps between them go), then -X.
  for (std::string_view chain : {kOutputChain, kRedirectChain})
    if (current.has_chain(chain)) in.append(":").append(chain).append(" - [0:0]\n");
  for (std::string_view chain : {kOutputChain, kRedirectChain})
    if (current.has_chain(chain)) in.append("-X ").append(chain).append("\n");
  in += "COMMIT\n";
  return plan;
}

}  // namespace azwi::netredirect
