#include "common/logging_flags.hpp"

#include <cstdio>
#include <cstdlib>

#include "common/log.hpp"

namespace azwi::log {

void LoggingFlags::add_to(FlagSet& flags) {
  flags.add_string("log-level", &level, "debug, info, warn or error");
  flags.add_string("log-format", &format, "json (one object per line) or text");
}

void LoggingFlags::apply_or_exit(const char* program) const {
  auto l = parse_level(level);
  auto f = parse_format(format);
  if (!l || !f) {
    std::fprintf(stderr, "%s: %s\n", program,
                 !l ? ("invalid --log-level \"" + level + "\": expected debug, info, warn or error").c_str()
                    : ("invalid --log-format \"" + format + "\": expected json or text").c_str());
    std::exit(2);
  }
  configure(*l, *f);
}

}  // namespace azwi::log
