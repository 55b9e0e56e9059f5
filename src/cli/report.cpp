#include "cli/report.hpp"

#include <unistd.h>

#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <cstdlib>

namespace azwi::cli {
namespace json = boost::json;

std::string_view status_name(Status s) {
  switch (s) {
    case Status::ok: return "ok";
    case Status::warn: return "warn";
    case Status::fail: return "fail";
    case Status::info: return "info";
    case Status::skip: return "skip";
  }
  return "info";
}

bool Report::has_failure() const {
  return std::any_of(checks.begin(), checks.end(), [](const Check& c) { return c.status == Status::fail; });
}

const Check* Report::find(std::string_view name) const {
  for (const auto& c : checks)
    if (c.name == name) return &c;
  return nullptr;
}

std::optional<OutputFormat> parse_output_format(std::string_view name) {
  if (name == "text") return OutputFormat::text;
  if (name == "json") return OutputFormat::json;
  return std::nullopt;
}

namespace {
std::string_view colour_of(Status s) {
  switch (s) {
    case Status::ok: return "\x1b[32m";
    case Status::warn: return "\x1b[33m";
    case Status::fail: return "\x1b[31;1m";
    default: return "\x1b[2m";
  }
}

std::string pad(std::string_view s, std::size_t width) {
  std::string out(s);
  if (out.size() < width) out.append(width - out.size(), ' ');
  return out;
}
}  // namespace

std::string render_text(const Report& report, bool colour) {
  std::size_t name_width = 0;
  for (const auto& c : report.checks) name_width = std::max(name_width, c.name.size());
  name_width += 2;
  const std::size_t indent = 2 + 6 + name_width;  // "  " + status column + name column
  std::string out;
  if (!report.subject.empty()) out += report.subject + "\n";
  for (const auto& c : report.checks) {
    std::string label(status_name(c.status));
    std::transform(label.begin(), label.end(), label.begin(), [](char ch) { return static_cast<char>(std::toupper(ch)); });
    out += "  ";
    if (colour) out += std::string(colour_of(c.status)) + pad(label, 6) + "\x1b[0m";
    else out += pad(label, 6);
    out += pad(c.name, name_width) + c.summary + "\n";
    std::size_t key_width = 0;
    for (const auto& [k, v] : c.details) key_width = std::max(key_width, k.size() + 1);
    for (const auto& [k, v] : c.details)
      out += std::string(indent, ' ') + pad(k + ":", key_width + 1) + v + "\n";
    if (!c.fix.empty()) out += std::string(indent, ' ') + "fix: " + c.fix + "\n";
  }
  return out;
}

std::string render_json(const Report& report) {
  json::array checks;
  for (const auto& c : report.checks) {
    json::object o;
    o["name"] = c.name;
    o["status"] = status_name(c.status);
    o["summary"] = c.summary;
    json::object details;
    for (const auto& [k, v] : c.details) details[k] = v;
    o["details"] = std::move(details);
    if (!c.fix.empty()) o["fix"] = c.fix;
    checks.push_back(std::move(o));
  }
  json::object root;
  root["subject"] = report.subject;
  root["ok"] = !report.has_failure();
  root["checks"] = std::move(checks);
  return json::serialize(root) + "\n";
}

bool stdout_wants_colour() {
  if (!isatty(STDOUT_FILENO)) return false;
  const char* no_colour = std::getenv("NO_COLOR");
  if (no_colour && *no_colour) return false;
  const char* term = std::getenv("TERM");
  return !(term && std::string_view(term) == "dumb");
}

}  // namespace azwi::cli
