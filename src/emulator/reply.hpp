#pragma once
// What a route of the emulator answers, before it becomes an HTTP response.
#include <string>
#include <utility>
#include <vector>

namespace azwi::emulator {

struct Reply {
  unsigned status = 200;
  std::string body;
  std::string content_type = "application/json; charset=utf-8";
  std::vector<std::pair<std::string, std::string>> headers;
};

inline Reply json_reply(unsigned status, std::string body) { return Reply{status, std::move(body), "application/json; charset=utf-8", {}}; }
// {"error": code, "error_description": text}
Reply json_error(unsigned status, const std::string& code, const std::string& description);

}  // namespace azwi::emulator
