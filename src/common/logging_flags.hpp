#pragma once
// --log-level and --log-format, the same in every binary.
#include <string>

#include "common/flags.hpp"

namespace azwi::log {

struct LoggingFlags {
  std::string level = "info";
  std::string format = "json";
  void add_to(FlagSet& flags);
  // Configures the process-wide logger; a bad value is a usage error: message on stderr, exit 2.
  void apply_or_exit(const char* program) const;
};

}  // namespace azwi::log
