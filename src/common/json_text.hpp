#pragma once
// Minimal JSON string escaping for hand-rendered hot-path output (logs, IMDS answers),
// where building a boost::json::value first would cost allocations for nothing.
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace azwi::json_text {

// True when one of the eight bytes of w needs an escape: below 0x20, a quote or a backslash (exact, no false positives
// across bytes: each test is the classic "some byte is zero / below n" bit trick).
inline bool any_needs_escape(std::uint64_t w) {
  constexpr std::uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
  std::uint64_t quote = w ^ (ones * '"'), backslash = w ^ (ones * '\\');
  return (((w - ones * 0x20) & ~w) | ((quote - ones) & ~quote) | ((backslash - ones) & ~backslash)) & highs;
}

inline void append_quoted(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  // Characters that need no escape are copied in runs, found eight at a time: access tokens are long and have none.
  std::size_t run = 0, i = 0;
  while (i < s.size()) {
    if (i + 8 <= s.size()) {
      std::uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      if (!any_needs_escape(w)) {
        i += 8;
        continue;
      }
    }
    auto c = static_cast<unsigned char>(s[i]);
    ++i;
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - 1 - run);
    run = i;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 0xf];
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

inline std::string quoted(std::string_view s) {
  std::string out;
  append_quoted(out, s);
  return out;
}

}  // namespace azwi::json_text
