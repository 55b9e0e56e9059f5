#include "common/flags.hpp"

#include <charconv>
#include <cstdio>
#include <cstdlib>

namespace azwi {

FlagSet::FlagSet(std::string program, std::string summary) : program_(std::move(program)), summary_(std::move(summary)) {
  flags_.push_back({"help", Kind::boolean, "show this help and exit", "", [](std::string_view) { return true; }, ""});
}

void FlagSet::add_text(std::string name, const std::string& current, std::string help,
                       std::function<void(std::string_view)> set) {
  std::string def;
  if (!current.empty()) def.append(1, '"').append(current).append(1, '"');
  flags_.push_back({std::move(name), Kind::string, std::move(help), std::move(def),
                    [set = std::move(set)](std::string_view v) {
                      set(v);
                      return true;
                    },
                    "string"});
}

void FlagSet::add_string(std::string name, std::string* target, std::string help) {
  add_text(std::move(name), *target, std::move(help), [target](std::string_view v) { *target = std::string(v); });
}

void FlagSet::add_string(std::string name, std::filesystem::path* target, std::string help) {
  add_text(std::move(name), target->string(), std::move(help), [target](std::string_view v) { *target = v; });
}

void FlagSet::add_integer(std::string name, std::string default_text, std::string help, std::int64_t min,
                          std::int64_t max, std::function<void(std::int64_t)> set) {
  flags_.push_back({std::move(name), Kind::integer, std::move(help), std::move(default_text),
                    [set = std::move(set), min, max](std::string_view v) {
                      std::int64_t x = 0;
                      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
                      if (ec != std::errc() || p != v.data() + v.size() || x < min || x > max) return false;
                      set(x);
                      return true;
                    },
                    "int " + std::to_string(min) + ".." + std::to_string(max)});
}

void FlagSet::add_float(std::string name, double* target, std::string help, double min, double max) {
  char def[32], hint[80];
  std::snprintf(def, sizeof def, "%g", *target);
  std::snprintf(hint, sizeof hint, "a number %g..%g", min, max);
  flags_.push_back({std::move(name), Kind::real, std::move(help), def,
                    [target, min, max](std::string_view v) {
                      std::string text(v);  // strtod needs the terminating NUL
                      char* end = nullptr;
                      double x = std::strtod(text.c_str(), &end);
                      if (text.empty() || *end != '\0' || !(x >= min && x <= max)) return false;
                      *target = x;
                      return true;
                    },
                    hint});
}

void FlagSet::add_bool(std::string name, bool* target, std::string help) {
  flags_.push_back({std::move(name), Kind::boolean, std::move(help), *target ? "true" : "",
                    [target](std::string_view v) {
                      if (v == "true" || v == "1" || v.empty()) {
                        *target = true;
                      } else if (v == "false" || v == "0") {
                        *target = false;
                      } else {
                        return false;
                      }
                      return true;
                    },
                    ""});
}

void FlagSet::add_list(std::string name, std::vector<std::string>* target, std::string help) {
  flags_.push_back({std::move(name), Kind::string, std::move(help), "",
                    [target](std::string_view v) {
                      while (!v.empty()) {
                        auto comma = v.find(',');
                        if (comma != 0) target->emplace_back(v.substr(0, comma));
                        if (comma == std::string_view::npos) break;
                        v.remove_prefix(comma + 1);
                      }
                      return true;
                    },
                    "string"});
}

void FlagSet::add_version(std::string version) {
  version_ = std::move(version);
  add_bool("version", version_asked_.get(), "print the version and exit");
}

void FlagSet::add_env(std::string name, std::string help) { env_.emplace_back(std::move(name), std::move(help)); }

const FlagSet::Flag* FlagSet::find(std::string_view name) const {
  for (const auto& f : flags_)
    if (f.name == name) return &f;
  return nullptr;
}

FlagSet::Result FlagSet::parse(int argc, const char* const* argv) const {
  Result r{Outcome::run, "", {}};
  *version_asked_ = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--") {
      for (++i; i < argc; ++i) r.positional.emplace_back(argv[i]);
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      r.positional.emplace_back(arg);
      continue;
    }
    arg.remove_prefix(arg[1] == '-' ? 2 : 1);
    std::string_view name = arg;
    std::string_view value;
    bool has_value = false;
    if (auto eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    }
    if (name == "help" || name == "h") return {Outcome::help, usage(), {}};
    const Flag* flag = find(name);
    if (!flag) return {Outcome::error, "unknown flag --" + std::string(name) + " (see --help)", {}};
    if (!has_value && flag->kind != Kind::boolean) {
      if (i + 1 >= argc) return {Outcome::error, "flag --" + std::string(name) + " needs a value", {}};
      value = argv[++i];
    }
    if (!flag->set(value)) {
      std::string expected = flag->kind == Kind::boolean ? "true or false" : flag->value_hint;
      return {Outcome::error,
              "invalid value \"" + std::string(value) + "\" for flag --" + std::string(name) + ": expected " + expected,
              {}};
    }
  }
  if (*version_asked_) return {Outcome::version, program_ + " " + version_ + "\n", {}};
  return r;
}

std::string FlagSet::usage() const {
  std::string out = "Usage: " + program_ + " [flags]\n\n" + summary_ + "\n\nFlags:\n";
  for (const auto& f : flags_) {
    std::string left = (f.name.size() == 1 ? "  -" : "  --") + f.name;
    if (f.kind == Kind::integer) left += "=int";
    if (f.kind == Kind::real) left += "=float";
    if (f.kind == Kind::string) left += "=string";
    out += left;
    out += std::string(left.size() < 30 ? 30 - left.size() : 1, ' ');
    out += f.help;
    if (!f.default_text.empty()) out += " (default " + f.default_text + ")";
    out += '\n';
  }
  if (!env_.empty()) {
    out += "\nEnvironment:\n";
    for (const auto& [name, help] : env_) {
      std::string left = "  " + name;
      out += left;
      out += std::string(left.size() < 30 ? 30 - left.size() : 1, ' ');
      out += help + '\n';
    }
  }
  return out;
}

std::vector<std::string> parse_flags_or_exit(const FlagSet& flags, int argc, const char* const* argv) {
  auto r = flags.parse(argc, argv);
  if (r.outcome == FlagSet::Outcome::help || r.outcome == FlagSet::Outcome::version) {
    std::fputs(r.message.c_str(), stdout);
    std::exit(0);
  }
  if (r.outcome == FlagSet::Outcome::error) exit_usage_error(argv[0], r.message);
  return r.positional;
}

void exit_usage_error(std::string_view program, std::string_view message) {
  std::fprintf(stderr, "%.*s: %.*s\n", static_cast<int>(program.size()), program.data(),
               static_cast<int>(message.size()), message.data());
  std::exit(2);
}

int run_command(std::string_view program, std::string_view usage, const std::vector<Command>& commands, int argc,
                char** argv, bool unknown_line) {
  auto print_usage = [&](std::FILE* to) { std::fwrite(usage.data(), 1, usage.size(), to); };
  if (argc < 2) {
    print_usage(stderr);
    return 2;
  }
  std::string_view name = argv[1];
  for (const auto& c : commands)
    if (c.name == name) return c.run(argc - 1, argv + 1);
  if (name == "help" || name == "--help" || name == "-h") {
    print_usage(stdout);
    return 0;
  }
  if (unknown_line)
    std::fprintf(stderr, "%.*s: unknown command \"%.*s\"\n\n", static_cast<int>(program.size()), program.data(),
                 static_cast<int>(name.size()), name.data());
  print_usage(stderr);
  return 2;
}

}  // namespace azwi
