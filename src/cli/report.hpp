#pragma once
// What a diagnostic command found, as one list of checks, rendered for people (aligned columns, colour only on a
// terminal) or for scripts (-o json). Commands build a Report; only the renderers know about terminals.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace azwi::cli {

enum class Status { ok, warn, fail, info, skip };
std::string_view status_name(Status s);  // "ok", "warn", "fail", "info", "skip"

struct Check {
  std::string name;     // a short id: "label", "service-account", ...
  Status status = Status::info;
  std::string summary;  // one sentence: what was found
  std::vector<std::pair<std::string, std::string>> details;  // key/value facts (claims, counts)
  std::string fix;      // what to do; empty when nothing is to be done
};

struct Report {
  std::string subject;  // "pod default/app"
  std::vector<Check> checks;
  bool has_failure() const;
  const Check* find(std::string_view name) const;
};

enum class OutputFormat { text, json };
std::optional<OutputFormat> parse_output_format(std::string_view name);  // "text" or "json"

std::string render_text(const Report& report, bool colour);
std::string render_json(const Report& report);

// Whether stdout is a terminal that takes colour: a TTY, TERM not "dumb", NO_COLOR unset.
bool stdout_wants_colour();

}  // namespace azwi::cli
