#include "common/env.hpp"

#include <cstdlib>

namespace azwi {
std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}
std::string env_or(const char* name, std::string fallback) { return env(name).value_or(std::move(fallback)); }
}  // namespace azwi
