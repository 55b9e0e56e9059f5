// libFuzzer target: any text as the output of `iptables-save`. Parsing the nat section, counting rules, splitting a
// rule's words and dropping counters must never crash; every parsed rule's line is the chain and spec it came from.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "netredirect/nat_table.hpp"

using namespace azwi::netredirect;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)count_rules(text);
  (void)without_counters(text);
  std::vector<std::string> words;
  (void)split_words(text, words);
  auto parsed = parse_nat_table(text);
  if (auto* table = std::get_if<NatTable>(&parsed)) {
    for (const auto& rule : table->rules) {
      if (rule.line() != "-A " + rule.chain + " " + rule.spec) std::abort();
      (void)table->rules_in(rule.chain);
    }
  }
  return 0;
}
