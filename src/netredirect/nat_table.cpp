#include "netredirect/nat_table.hpp"

#include "common/text.hpp"

namespace azwi::netredirect {
namespace {

std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    out.push_back(line);
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return out;
}


}  // namespace

bool NatTable::has_chain(std::string_view name) const {
  for (const auto& c : chains)
    if (c == name) return true;
  return false;
}

std::vector<const SavedRule*> NatTable::rules_in(std::string_view chain) const {
  std::vector<const SavedRule*> out;
  for (const auto& r : rules)
    if (r.chain == chain) out.push_back(&r);
  return out;
}

bool split_words(std::string_view spec, std::vector<std::string>& words) {
  words.clear();
  std::string cur;
  bool in_word = false;
  bool quoted = false;
  for (std::size_t i = 0; i < spec.size(); ++i) {
    char c = spec[i];
    if (quoted) {
      if (c == '\\' && i + 1 < spec.size()) {
        cur += spec[++i];
      } else if (c == '"') {
        quoted = false;
      } else {
        cur += c;
      }
    } else if (c == '"') {
      quoted = true;
      in_word = true;
    } else if (c == ' ' || c == '\t') {
      if (in_word) words.push_back(std::move(cur));
      cur.clear();
      in_word = false;
    } else {
      cur += c;
      in_word = true;
    }
  }
  if (quoted) return false;
  if (in_word) words.push_back(std::move(cur));
  return true;
}

std::variant<NatTable, std::string> parse_nat_table(std::string_view save_output) {
  NatTable table;
  enum class State { outside, in_nat, in_other, done } state = State::outside;
  int line_no = 0;
  for (std::string_view raw : lines_of(save_output)) {
    ++line_no;
    std::string_view line = ascii::trim(raw);
    if (line.empty() || line.front() == '#') continue;
    const std::string where = "line " + std::to_string(line_no) + ": ";
    if (line.front() == '*') {
      if (state == State::in_nat || state == State::in_other) return where + "table starts before the previous COMMIT";
      if (line == "*nat") {
        if (state == State::done) return where + "second nat section";
        state = State::in_nat;
      } else {
        state = State::in_other;
      }
      continue;
    }
    if (line == "COMMIT") {
      if (state != State::in_nat && state != State::in_other) return where + "COMMIT outside a table";
      state = state == State::in_nat ? State::done : State::outside;
      continue;
    }
    if (state == State::in_other) continue;
    if (state != State::in_nat) return where + "rule or chain outside a table: " + std::string(line);
    if (line.front() == ':') {
      auto end = line.find(' ');
      std::string name(line.substr(1, end == std::string_view::npos ? std::string_view::npos : end - 1));
      if (name.empty()) return where + "chain declaration without a name";
      table.chains.push_back(std::move(name));
      continue;
    }
    if (line.substr(0, 3) == "-A ") {
      std::string_view rest = ascii::trim(line.substr(3));
      auto sp = rest.find(' ');
      SavedRule rule;
      rule.chain = std::string(rest.substr(0, sp));
      rule.spec = sp == std::string_view::npos ? std::string() : std::string(ascii::trim(rest.substr(sp + 1)));
      if (!split_words(rule.spec, rule.words)) return where + "unterminated quote in rule: " + std::string(line);
      // Matches come before the target in saved rules, so the first -j/-g is the target; a comment's text is
      // skipped because it may itself read "-j".
      for (std::size_t i = 0; i + 1 < rule.words.size(); ++i) {
        const std::string& w = rule.words[i];
        if (w == "--comment") {
          ++i;
        } else if (w == "-j" || w == "-g" || w == "--jump" || w == "--goto") {
          rule.target = rule.words[i + 1];
          break;
        }
      }
      table.rules.push_back(std::move(rule));
      continue;
    }
    return where + "unexpected line in the nat table: " + std::string(line);
  }
  if (state == State::in_nat || state == State::in_other) return "the saved table ends without COMMIT (truncated output)";
  return table;
}

int count_rules(std::string_view save_output) {
  int n = 0;
  for (std::string_view line : lines_of(save_output))
    if (ascii::trim(line).substr(0, 3) == "-A ") ++n;
  return n;
}

std::string without_counters(std::string_view save_output) {
  std::string out;
  for (std::string_view raw : lines_of(save_output)) {
    std::string_view line = ascii::trim(raw);
    if (line.empty() || line.front() == '#') continue;
    if (line.front() == ':') {
      // ":CHAIN POLICY [packets:bytes]"
      auto bracket = line.rfind(" [");
      if (bracket != std::string_view::npos) line = line.substr(0, bracket);
    } else if (line.front() == '[') {
      // "[packets:bytes] -A ..." as printed by iptables-save -c
      auto close = line.find("] ");
      if (close != std::string_view::npos) line = line.substr(close + 2);
    }
    out += line;
    out += '\n';
  }
  return out;
}

}  // namespace azwi::netredirect
