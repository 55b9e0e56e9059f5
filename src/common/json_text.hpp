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

// Length of the well-formed UTF-8 sequence starting at s[i] (a byte of 0x80 or more), or 0 when it is not one
// (a stray continuation byte, an overlong form, a surrogate, beyond U+10FFFF, or cut short).
inline std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i), lo = 0x80, hi = 0xBF;
  std::size_t n;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size() || byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  return n;
}

// A JSON string of s. Text that is not UTF-8 (a percent-decoded query can be anything) has each bad byte written as
// U+FFFD: JSON must be UTF-8, and a parser that refuses the answer would hide the error it carries.
inline void append_quoted(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  // Characters that need no escape are copied in runs, found eight at a time: access tokens are long and have none.
  std::size_t run = 0, i = 0;
  while (i < s.size()) {
    if (i + 8 <= s.size()) {
      std::uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      if (!any_needs_escape(w) && !(w & 0x8080808080808080u)) {
        i += 8;
        continue;
      }
    }
    auto c = static_cast<unsigned char>(s[i]);
    ++i;
    if (c >= 0x80) {
      if (std::size_t n = utf8_sequence(s, i - 1)) {
        i += n - 1;
        continue;
      }
      out.append(s.data() + run, i - 1 - run);
      run = i;
      out += "\\ufffd";
      continue;
    }
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
