#pragma once
// Command-line flags in the Go style the upstream binaries use: --name=value, --name value, -name, and bare
// --flag for booleans. Unknown flags and bad values are errors that name the flag.
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace azwi {

class FlagSet {
 public:
  FlagSet(std::string program, std::string summary);

  void add_string(std::string name, std::string* target, std::string help);
  void add_int(std::string name, int* target, std::string help, int min, int max);
  void add_bool(std::string name, bool* target, std::string help);
  // A list: each use appends, and a value may itself be comma-separated ("--x a --x b,c" gives a, b, c).
  void add_list(std::string name, std::vector<std::string>* target, std::string help);
  // Documents an environment variable in --help (they are read by the program itself).
  void add_env(std::string name, std::string help);

  enum class Outcome { run, help, error };
  struct Result {
    Outcome outcome;
    std::string message;  // the error, or the usage text for help
    std::vector<std::string> positional;
  };
  Result parse(int argc, const char* const* argv) const;
  std::string usage() const;

 private:
  enum class Kind { string, integer, boolean };
  struct Flag {
    std::string name;
    Kind kind;
    std::string help;
    std::string default_text;
    std::function<bool(std::string_view)> set;  // false: value rejected
    std::string value_hint;
  };
  const Flag* find(std::string_view name) const;
  std::string program_;
  std::string summary_;
  std::vector<Flag> flags_;
  std::vector<std::pair<std::string, std::string>> env_;
};

// Runs parse and handles the help/error outcomes the same way in every binary:
// prints usage to stdout and exits 0, or prints the error to stderr and exits 2.
std::vector<std::string> parse_flags_or_exit(const FlagSet& flags, int argc, const char* const* argv);

}  // namespace azwi
