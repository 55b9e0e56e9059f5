#pragma once
// Entra ID's AADSTS codes a workload-identity exchange meets, each with what it means and how to fix it (the table
// of docs/troubleshooting.md, so that `azwi doctor` and the doc say the same).
#include <optional>
#include <string_view>

namespace azwi::cli {

struct AadstsAdvice {
  int code;
  std::string_view meaning;
  std::string_view fix;
};

// nullptr for a code not in the table.
const AadstsAdvice* explain_aadsts(int code);
// The last "AADSTS<digits>" in text.
std::optional<int> find_aadsts_code(std::string_view text);

}  // namespace azwi::cli
