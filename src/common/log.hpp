#pragma once
// Structured logging: one JSON object (or one human-readable line) per event, written to stderr.
// Values are passed as key/value fields; secrets must never be passed here (log a fingerprint instead).
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace azwi::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3 };
enum class Format { json, text };

std::optional<Level> parse_level(std::string_view);
std::optional<Format> parse_format(std::string_view);

struct Field {
  using Value = std::variant<std::string_view, std::string, std::int64_t, double, bool>;
  std::string_view key;
  Value value;
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
  Field(std::string_view k, std::string&& v) : key(k), value(std::move(v)) {}
  Field(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
  Field(std::string_view k, bool v) : key(k), value(v) {}
  Field(std::string_view k, double v) : key(k), value(v) {}
  template <typename I, typename = std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool>>>
  Field(std::string_view k, I v) : key(k), value(static_cast<std::int64_t>(v)) {}
};
using Fields = std::initializer_list<Field>;

// Process-wide settings; set once at start-up before any thread logs.
void configure(Level level, Format format);
bool enabled(Level level);

class Logger {
 public:
  explicit Logger(std::string name) : name_(std::move(name)) {}
  void debug(std::string_view msg, Fields f = {}) const { write(Level::debug, msg, f); }
  void info(std::string_view msg, Fields f = {}) const { write(Level::info, msg, f); }
  void warn(std::string_view msg, Fields f = {}) const { write(Level::warn, msg, f); }
  void error(std::string_view msg, Fields f = {}) const { write(Level::error, msg, f); }
  void write(Level level, std::string_view msg, Fields fields) const;

 private:
  std::string name_;
};

// Renders one event; exposed for unit tests.
std::string render(Format format, Level level, std::string_view logger, std::string_view msg, Fields fields,
                   std::string_view timestamp);

}  // namespace azwi::log
