#include "common/log.hpp"

#include <limits.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <shared_mutex>

#include "common/json_text.hpp"

namespace azwi::log {
namespace {
std::atomic<int> g_level{static_cast<int>(Level::info)};
std::atomic<Format> g_format{Format::json};
std::shared_mutex g_write_mutex;  // shared: lines the kernel writes whole; exclusive: longer ones

void write_all(std::string_view line) {
  while (!line.empty()) {
    ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // nowhere to report it
    }
    line.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::string_view level_name(Level l) {
  switch (l) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
  }
  return "info";
}

// The current UTC time as RFC 3339 with milliseconds, in a per-thread buffer valid until the thread's next call.
// The date and time of day are formatted once per second, only the milliseconds for every line.
std::string_view now_rfc3339() {
  struct Second {
    std::time_t t = -1;
    int length = 0;
    char text[64] = {};  // room for any int the compiler cannot rule out, and ".mmmZ"
  };
  thread_local Second cached;
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::time_point_cast<std::chrono::seconds>(now);
  auto ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(now - secs).count());
  std::time_t t = std::chrono::system_clock::to_time_t(secs);
  if (t != cached.t) {
    std::tm tm{};
    gmtime_r(&t, &tm);
    cached.length = std::snprintf(cached.text, sizeof cached.text - 5, "%04d-%02d-%02dT%02d:%02d:%02d",
                                  tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    cached.t = t;
  }
  char* p = cached.text + cached.length;
  p[0] = '.';
  p[1] = static_cast<char>('0' + ms / 100);
  p[2] = static_cast<char>('0' + ms / 10 % 10);
  p[3] = static_cast<char>('0' + ms % 10);
  p[4] = 'Z';
  return {cached.text, static_cast<std::size_t>(cached.length) + 5};
}

void append_value(std::string& out, const Field::Value& v, bool quote_strings) {
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, bool>) {
          out += x ? "true" : "false";
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          out += std::to_string(x);
        } else if constexpr (std::is_same_v<T, double>) {
          char buf[32];  // printf's %.6g, without printf's cost
          auto r = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::general, 6);
          out.append(buf, r.ptr);
        } else {
          if (quote_strings) {
            json_text::append_quoted(out, x);
          } else {
            out += x;
          }
        }
      },
      v);
}
}  // namespace

std::optional<Level> parse_level(std::string_view s) {
  if (s == "debug" || s == "trace") return Level::debug;
  if (s == "info" || s.empty()) return Level::info;
  if (s == "warn" || s == "warning") return Level::warn;
  if (s == "error") return Level::error;
  return std::nullopt;
}

std::optional<Format> parse_format(std::string_view s) {
  if (s == "json") return Format::json;
  if (s == "text") return Format::text;
  return std::nullopt;
}

void configure(Level level, Format format) {
  g_level = static_cast<int>(level);
  g_format = format;
}

bool enabled(Level level) { return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed); }

std::string render(Format format, Level level, std::string_view logger, std::string_view msg, Fields fields,
                   std::string_view ts) {
  std::string out;
  out.reserve(512);  // one allocation for a typical line
  if (format == Format::json) {
    out += "{\"level\":\"";
    out += level_name(level);
    out += "\",\"ts\":\"";
    out += ts;
    out += "\",\"logger\":";
    json_text::append_quoted(out, logger);
    out += ",\"msg\":";
    json_text::append_quoted(out, msg);
    for (const auto& f : fields) {
      out += ',';
      json_text::append_quoted(out, f.key);
      out += ':';
      append_value(out, f.value, true);
    }
    out += "}\n";
  } else {
    out += ts;
    out += ' ';
    out += level_name(level);
    out += ' ';
    out += logger;
    out += ": ";
    out += msg;
    for (const auto& f : fields) {
      out += ' ';
      out += f.key;
      out += '=';
      // Quote only strings that would otherwise be ambiguous to read.
      bool is_string = std::holds_alternative<std::string_view>(f.value) || std::holds_alternative<std::string>(f.value);
      if (is_string) {
        std::string plain;
        append_value(plain, f.value, false);
        if (plain.empty() || plain.find_first_of(" \"=\t\n") != std::string::npos) {
          json_text::append_quoted(out, plain);
        } else {
          out += plain;
        }
      } else {
        append_value(out, f.value, false);
      }
    }
    out += '\n';
  }
  return out;
}

void Logger::write(Level level, std::string_view msg, Fields fields) const {
  if (!enabled(level)) return;
  std::string line = render(g_format.load(std::memory_order_relaxed), level, name_, msg, fields, now_rfc3339());
  // A line of at most PIPE_BUF bytes goes out in one write(2), which the kernel keeps whole: a pipe (how container
  // runtimes collect stderr) never splits it, and writes to a regular file are serialized on the file position. Such
  // lines need no lock between them (the I/O threads used to queue on one here); a longer line could be split by a
  // pipe, so it waits for the others and is written alone. stderr is unbuffered, so stdio holds nothing to flush.
  if (line.size() <= PIPE_BUF) {
    std::shared_lock lock(g_write_mutex);
    write_all(line);
  } else {
    std::unique_lock lock(g_write_mutex);
    write_all(line);
  }
}

}  // namespace azwi::log
