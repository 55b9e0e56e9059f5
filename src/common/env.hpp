#pragma once
#include <optional>
#include <string>

namespace azwi {
// The variable's value, or nullopt when unset or empty (empty counts as unset, as in the upstream).
std::optional<std::string> env(const char* name);
std::string env_or(const char* name, std::string fallback);
}  // namespace azwi
