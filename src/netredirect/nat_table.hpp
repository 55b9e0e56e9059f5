#pragma once
// The nat table as printed by `iptables-save -t nat` (the same text for the nft and the legacy backend).
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace azwi::netredirect {

struct SavedRule {
  std::string chain;               // the chain the rule is appended to
  std::string spec;                // everything after "-A <chain> ", verbatim (what a "-D <chain> <spec>" needs)
  std::vector<std::string> words;  // spec split like a shell would (quotes removed)
  std::string target;              // the -j / -g argument, or empty

  std::string line() const { return "-A " + chain + " " + spec; }
};

struct NatTable {
  std::vector<std::string> chains;  // every declared chain, built-in and user-defined, in save order
  std::vector<SavedRule> rules;     // in save order

  bool has_chain(std::string_view name) const;
  std::vector<const SavedRule*> rules_in(std::string_view chain) const;
};

// Parses the "*nat ... COMMIT" section. Empty input (or input with no nat section) is an empty table; a truncated
// section, a rule before "*nat", or an unbalanced quote is an error.
std::variant<NatTable, std::string> parse_nat_table(std::string_view save_output);

// Number of rules ("-A" lines) in the output of a whole `iptables-save`, all tables; used to detect the backend
// that already holds the pod's rules.
int count_rules(std::string_view save_output);

// Splits a rule spec the way iptables-restore does: whitespace separates words, double quotes group, and a backslash
// inside quotes escapes the next character. Returns false on an unterminated quote.
bool split_words(std::string_view spec, std::vector<std::string>& words);

// The saved text with comment lines and packet/byte counters removed, for comparing two saves.
std::string without_counters(std::string_view save_output);

}  // namespace azwi::netredirect
