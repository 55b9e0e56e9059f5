#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <regex>
#include <thread>
#include <vector>

#include "common/base64.hpp"
#include "common/text.hpp"
#include "common/json_text.hpp"
#include "common/log.hpp"
#include "http/address.hpp"

using namespace azwi;

TEST(Log, JsonLineHasLevelTsLoggerMsgThenFields) {
  auto line = log::render(log::Format::json, log::Level::info, "proxy", "starting \"x\"",
                          {{"port", 8000}, {"ok", true}, {"name", "a\nb"}}, "2026-01-01T00:00:00.000Z");
  ASSERT_EQ(line.back(), '\n');
  auto v = boost::json::parse(line).as_object();
  EXPECT_EQ(v.at("level").as_string(), "info");
  EXPECT_EQ(v.at("logger").as_string(), "proxy");
  EXPECT_EQ(v.at("msg").as_string(), "starting \"x\"");
  EXPECT_EQ(v.at("port").as_int64(), 8000);
  EXPECT_EQ(v.at("ok").as_bool(), true);
  EXPECT_EQ(v.at("name").as_string(), "a\nb");
  EXPECT_EQ(line.find("{\"level\""), 0u);
}

TEST(Log, NumbersAreWrittenAsPrintfWould) {
  for (double d : {0.0, 1.5, 0.123456789, 1234567.0, 1e-7, 2.5e21, -3.25, 100.0}) {
    char expected[32];
    std::snprintf(expected, sizeof expected, "%.6g", d);
    auto line = log::render(log::Format::text, log::Level::info, "p", "m", {{"d", d}}, "T");
    EXPECT_EQ(line, "T info p: m d=" + std::string(expected) + "\n") << d;
  }
}

TEST(Log, LinesOnStderrCarryAnRfc3339UtcTimestampWithMilliseconds) {
  std::FILE* capture = std::tmpfile();
  ASSERT_NE(capture, nullptr);
  int saved = ::dup(2);
  ::dup2(::fileno(capture), 2);
  log::Logger("t").info("one", {{"k", "v"}});
  log::Logger("t").info("two");
  ::dup2(saved, 2);
  ::close(saved);
  std::rewind(capture);
  char buf[1024] = {};
  std::size_t n = std::fread(buf, 1, sizeof buf - 1, capture);
  std::fclose(capture);
  std::string text(buf, n);
  std::regex line(R"(\{"level":"info","ts":"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z","logger":"t","msg":"one","k":"v"\}\n)"
                  R"(\{"level":"info","ts":"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z","logger":"t","msg":"two"\}\n)");
  EXPECT_TRUE(std::regex_match(text, line)) << text;
}

// Lines written at once from several threads, some longer than a pipe keeps whole, each arrive in one piece, into a
// pipe (as container runtimes collect stderr) and into a regular file.
void expect_whole_lines_from_threads(bool to_pipe) {
  int fds[2] = {-1, -1};
  std::FILE* file = nullptr;
  if (to_pipe) {
    ASSERT_EQ(::pipe(fds), 0);
    ::fcntl(fds[1], F_SETPIPE_SZ, 4096);  // a pipe that fills at once: long writes get split whenever they can be
  } else {
    file = std::tmpfile();
    ASSERT_NE(file, nullptr);
  }
  std::string received;
  std::thread reader;
  if (to_pipe) {
    reader = std::thread([&] {
      char buf[65536];
      ssize_t n;
      while ((n = ::read(fds[0], buf, sizeof buf)) > 0) received.append(buf, static_cast<std::size_t>(n));
    });
  }
  int saved = ::dup(2);
  ::dup2(to_pipe ? fds[1] : ::fileno(file), 2);
  constexpr int kThreads = 4, kLines = 300;
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([t] {
      std::string name = "w";  // not "w" + to_string(t): g++ 12 warns falsely on it (-Wrestrict, GCC bug 105329)
      name += std::to_string(t);
      log::Logger logger(name);
      for (int i = 0; i < kLines; ++i) {
        std::string filler(i % 10 == 0 ? 6000 : 50 + i % 7, static_cast<char>('a' + t));
        logger.info("line", {{"i", i}, {"filler", filler}});
      }
    });
  }
  for (auto& w : writers) w.join();
  ::dup2(saved, 2);
  ::close(saved);
  if (to_pipe) {
    ::close(fds[1]);
    reader.join();
    ::close(fds[0]);
  } else {
    std::rewind(file);
    char buf[65536];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, file)) > 0) received.append(buf, n);
    std::fclose(file);
  }
  int lines = 0;
  std::size_t at = 0;
  while (at < received.size()) {
    auto end = received.find('\n', at);
    ASSERT_NE(end, std::string::npos);
    auto v = boost::json::parse(received.substr(at, end - at)).as_object();  // throws on a torn line
    auto logger = std::string(v.at("logger").as_string());
    auto filler = std::string(v.at("filler").as_string());
    EXPECT_EQ(filler, std::string(filler.size(), static_cast<char>('a' + (logger.back() - '0'))));
    ++lines;
    at = end + 1;
  }
  EXPECT_EQ(lines, kThreads * kLines);
}

TEST(Log, LinesFromSeveralThreadsArriveWholeInAPipe) { expect_whole_lines_from_threads(true); }
TEST(Log, LinesFromSeveralThreadsArriveWholeInAFile) { expect_whole_lines_from_threads(false); }

TEST(JsonText, BytesThatAreNotUtf8BecomeReplacementCharactersSoTheAnswerStaysJson) {
  // A percent-decoded query (%E8 alone) echoed in an error: the answer must still parse.
  EXPECT_EQ(json_text::quoted("2019\xE8-01"), R"("2019\ufffd-01")");
  EXPECT_EQ(json_text::quoted("\x80\xC0\xAF"), R"("\ufffd\ufffd\ufffd")");  // stray continuation, overlong '/'
  EXPECT_EQ(json_text::quoted("\xED\xA0\x80"), R"("\ufffd\ufffd\ufffd")");  // a UTF-16 surrogate
  EXPECT_EQ(json_text::quoted("\xF4\x90\x80\x80"), R"("\ufffd\ufffd\ufffd\ufffd")");  // beyond U+10FFFF
  EXPECT_EQ(json_text::quoted("cut \xE2\x9C"), R"("cut \ufffd\ufffd")");
  EXPECT_EQ(json_text::quoted("long enough for the fast path \xFF, and then some more text"),
            R"("long enough for the fast path \ufffd, and then some more text")");
  std::string valid = "\xC3\xA9 \xE2\x9C\x93 \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF";  // 2, 3 and 4 bytes, U+10FFFF
  EXPECT_EQ(json_text::quoted(valid), "\"" + valid + "\"");
  for (std::string text : {std::string("a\xE8"), std::string("\xF0\x9F\x98"), valid + "\xC3"}) {
    boost::json::error_code ec;
    boost::json::parse(json_text::quoted(text), ec);
    EXPECT_FALSE(ec) << text;
  }
}

TEST(JsonText, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(json_text::quoted(""), "\"\"");
  EXPECT_EQ(json_text::quoted("plain text / é ✓"), "\"plain text / é ✓\"");
  EXPECT_EQ(json_text::quoted("a\"b\\c\nd\re\tf"), R"("a\"b\\c\nd\re\tf")");
  EXPECT_EQ(json_text::quoted(std::string("\x01x\x1f\0", 4)), R"("\u0001x\u001f\u0000")");
  EXPECT_EQ(json_text::quoted("\"\""), R"("\"\"")");
  EXPECT_EQ(json_text::quoted("end\\"), R"("end\\")");
  // Long strings (scanned eight bytes at a time) with a special character at every position agree with a
  // character-by-character reference.
  auto reference = [](std::string_view s) {
    std::string out = "\"";
    for (unsigned char c : s) {
      if (c == '"') out += "\\\"";
      else if (c == '\\') out += "\\\\";
      else if (c == '\n') out += "\\n";
      else if (c == '\r') out += "\\r";
      else if (c == '\t') out += "\\t";
      else if (c < 0x20) out += "\\u00" + std::string(1, "0123456789abcdef"[c >> 4]) + "0123456789abcdef"[c & 15];
      else if (c >= 0x80) out += "\\ufffd";  // only ever alone here: never UTF-8
      else out += static_cast<char>(c);
    }
    return out + "\"";
  };
  for (char special : std::string("\"\\\n\x01\x1f", 5)) {
    for (std::size_t at = 0; at < 40; ++at) {
      std::string s(40, 'a');
      s[at] = special;
      s[(at * 7 + 3) % 40] = static_cast<char>(0xe9);  // Latin-1, not UTF-8: replaced
      s[(at * 5 + 1) % 40] = ' ';
      EXPECT_EQ(json_text::quoted(s), reference(s)) << int(special) << " at " << at;
    }
  }
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  EXPECT_EQ(json_text::quoted(all + all), reference(all + all));
}

TEST(Log, TextLineQuotesOnlyWhatNeedsIt) {
  auto line = log::render(log::Format::text, log::Level::warn, "p", "m", {{"a", "plain"}, {"b", "two words"}}, "T");
  EXPECT_EQ(line, "T warn p: m a=plain b=\"two words\"\n");
}

TEST(Log, LevelsParse) {
  EXPECT_EQ(log::parse_level("debug"), log::Level::debug);
  EXPECT_EQ(log::parse_level("error"), log::Level::error);
  EXPECT_FALSE(log::parse_level("loud"));
  EXPECT_FALSE(log::parse_format("xml"));
}

TEST(Address, HostPortForms) {
  auto a = http::parse_host_port(":9443");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "");
  EXPECT_EQ(a->port, 9443);
  a = http::parse_host_port("[::1]:80");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "::1");
  EXPECT_FALSE(http::parse_host_port("9443"));
  EXPECT_FALSE(http::parse_host_port("h:99999"));
  EXPECT_FALSE(http::parse_host_port("::1:80"));
}

// Standard base64 as Secrets and kubeconfigs carry it: padded or not, possibly wrapped; anything else refused.
TEST(Base64, StandardRoundTripsEveryLengthAndReadsWrappedOrUnpaddedText) {
  std::string bytes;
  for (int n = 0; n < 40; ++n) {
    auto text = azwi::base64_encode(bytes);
    EXPECT_EQ(text.size() % 4, 0u);
    EXPECT_EQ(azwi::base64_decode(text), bytes) << text;
    bytes += static_cast<char>(n * 37 + 250);
  }
  EXPECT_EQ(azwi::base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(azwi::base64_decode("Zm9v\nYg=="), "foob");
  EXPECT_EQ(azwi::base64_decode(" Zm9vYg "), "foob");
  EXPECT_EQ(azwi::base64_decode("+/+/"), std::string("\xfb\xff\xbf", 3));
}

TEST(Base64, StandardRefusesForeignCharactersMisplacedPaddingAndImpossibleLengths) {
  for (std::string_view bad : {"Zm9v-g==", "Zm9v_g==", "Zm=9vYg=", "Zm9vYg===", "Zm9vY", "Zm9vYg=", "Zg=a"})
    EXPECT_FALSE(azwi::base64_decode(bad)) << bad;
}

TEST(Base64, EncoderOfEveryTailLengthAndOfAllByteValues) {
  EXPECT_EQ(azwi::base64_encode(""), "");
  EXPECT_EQ(azwi::base64_encode("f"), "Zg==");
  EXPECT_EQ(azwi::base64_encode("fo"), "Zm8=");
  EXPECT_EQ(azwi::base64_encode("foo"), "Zm9v");
  EXPECT_EQ(azwi::base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(azwi::base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(azwi::base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(azwi::base64_encode(std::string("\xff\xfe\x00\x3e\x3f", 5)), "//4APj8=");
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  // Reference: Python's base64.b64encode of the same 256 bytes.
  EXPECT_EQ(azwi::base64_encode(all),
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xN"
            "Tk9QUVJTVFVWV1hZWltcXV5fYGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn+AgYKDhIWGh4iJiouMjY6PkJGSk5SVlpeYmZqb"
            "nJ2en6ChoqOkpaanqKmqq6ytrq+wsbKztLW2t7i5uru8vb6/wMHCw8TFxsfIycrLzM3Oz9DR0tPU1dbX2Nna29zd3t/g4eLj5OXm5+jp"
            "6uvs7e7v8PHy8/T19vf4+fr7/P3+/w==");
}

namespace {
// Six bits at a time, the slow way: the reference for the encoder's word-at-a-time path.
std::string base64_reference(std::string_view in) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t bits = 0, acc = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += alphabet[(acc >> bits) & 63];
    }
  }
  if (bits > 0) out += alphabet[(acc << (6 - bits)) & 63];
  while (out.size() % 4) out += '=';
  return out;
}
}  // namespace

TEST(Base64, EncoderMatchesAReferenceAtEveryLengthAndOffset) {
  std::string bytes;
  for (int i = 0; i < 300; ++i) bytes += static_cast<char>((i * 97 + 13) & 0xff);
  for (std::size_t offset = 0; offset < 8; ++offset)
    for (std::size_t len = 0; offset + len <= 80; ++len) {
      std::string_view slice(bytes.data() + offset, len);
      ASSERT_EQ(azwi::base64_encode(slice), base64_reference(slice)) << "offset " << offset << " length " << len;
    }
  EXPECT_EQ(azwi::base64_encode(bytes), base64_reference(bytes));
}

TEST(AsciiText, LowerCaseComparisonAndTrimIgnoreTheLocaleAndOnlyTouchAscii) {
  EXPECT_EQ(azwi::ascii::to_lower("Content-Type \xc3\x89"), "content-type \xc3\x89");
  EXPECT_TRUE(azwi::ascii::iequals("TRUE", "true"));
  EXPECT_FALSE(azwi::ascii::iequals("true ", "true"));
  EXPECT_EQ(azwi::ascii::trim(" \t a b\t "), "a b");
  EXPECT_EQ(azwi::ascii::trim(" \n"), "\n");  // only spaces and tabs
}
