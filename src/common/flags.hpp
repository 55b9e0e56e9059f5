#pragma once
// Command-line flags in the Go style the upstream binaries use: --name=value, --name value, -name, and bare
// --flag for booleans. Unknown flags and bad values are errors that name the flag.
#include <concepts>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace azwi {

class FlagSet {
 public:
  FlagSet(std::string program, std::string summary);

  void add_string(std::string name, std::string* target, std::string help);
  void add_string(std::string name, std::filesystem::path* target, std::string help);
  // Any integer type, so that a flag binds straight to the option it sets (an int64_t lifetime, a size_t limit).
  template <std::integral Int>
  void add_int(std::string name, Int* target, std::string help, std::int64_t min, std::int64_t max) {
    add_integer(std::move(name), std::to_string(*target), std::move(help), min, max,
                [target](std::int64_t v) { *target = static_cast<Int>(v); });
  }
  void add_float(std::string name, double* target, std::string help, double min, double max);
  void add_bool(std::string name, bool* target, std::string help);
  // A list: each use appends, and a value may itself be comma-separated ("--x a --x b,c" gives a, b, c).
  void add_list(std::string name, std::vector<std::string>* target, std::string help);
  // --version: parse answers Outcome::version with "<program> <version>".
  void add_version(std::string version);
  // Documents an environment variable in --help (they are read by the program itself).
  void add_env(std::string name, std::string help);

  enum class Outcome { run, help, version, error };
  struct Result {
    Outcome outcome;
    std::string message;  // the error, the usage text for help, or the version line
    std::vector<std::string> positional;
  };
  Result parse(int argc, const char* const* argv) const;
  std::string usage() const;

 private:
  enum class Kind { string, integer, real, boolean };
  struct Flag {
    std::string name;
    Kind kind;
    std::string help;
    std::string default_text;
    std::function<bool(std::string_view)> set;  // false: value rejected
    std::string value_hint;
  };
  const Flag* find(std::string_view name) const;
  void add_text(std::string name, const std::string& current, std::string help,
                std::function<void(std::string_view)> set);
  void add_integer(std::string name, std::string default_text, std::string help, std::int64_t min, std::int64_t max,
                   std::function<void(std::int64_t)> set);
  std::string program_;
  std::string version_;
  std::shared_ptr<bool> version_asked_ = std::make_shared<bool>(false);  // outlives copies of the FlagSet's flags
  std::string summary_;
  std::vector<Flag> flags_;
  std::vector<std::pair<std::string, std::string>> env_;
};

// Runs parse and handles the help/version/error outcomes the same way in every binary:
// prints usage or the version to stdout and exits 0, or prints the error to stderr and exits 2.
std::vector<std::string> parse_flags_or_exit(const FlagSet& flags, int argc, const char* const* argv);

// A usage error found after parsing (a missing or contradictory flag): "<program>: <message>" on stderr, exit 2.
[[noreturn]] void exit_usage_error(std::string_view program, std::string_view message);

// A program of subcommands: argv[1] names one, which runs with argv[1] as its argv[0]. No command: the usage on
// stderr, 2; help, --help or -h: the usage on stdout, 0; an unknown one: "<program>: unknown command" and the usage
// on stderr, 2 (unless `unknown_line` is false: the usage alone).
struct Command {
  std::string_view name;
  std::function<int(int argc, char** argv)> run;
};
int run_command(std::string_view program, std::string_view usage, const std::vector<Command>& commands, int argc,
                char** argv, bool unknown_line = true);

}  // namespace azwi
