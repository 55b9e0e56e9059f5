#include "emulator/decode.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "jwt/jws.hpp"

namespace azwi::emulator {
namespace json = boost::json;

namespace {
void pretty(std::string& out, const json::value& v, int depth) {
  std::string pad(static_cast<std::size_t>(depth + 1) * 2, ' ');
  std::string close_pad(static_cast<std::size_t>(depth) * 2, ' ');
  if (v.is_object() && !v.as_object().empty()) {
    out += "{\n";
    bool first = true;
    for (const auto& [k, x] : v.as_object()) {
      if (!first) out += ",\n";
      first = false;
      out += pad + json::serialize(json::string(k)) + ": ";
      pretty(out, x, depth + 1);
    }
    out += "\n" + close_pad + "}";
  } else if (v.is_array() && !v.as_array().empty()) {
    out += "[\n";
    bool first = true;
    for (const auto& x : v.as_array()) {
      if (!first) out += ",\n";
      first = false;
      out += pad;
      pretty(out, x, depth + 1);
    }
    out += "\n" + close_pad + "]";
  } else {
    out += json::serialize(v);
  }
}
}  // namespace

std::string pretty_json(const json::value& v) {
  std::string out;
  pretty(out, v, 0);
  return out + "\n";
}

std::string describe_token(std::string_view token) {
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.remove_suffix(1);
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.front()))) token.remove_prefix(1);
  jwt::Jws jws = jwt::parse(token);
  json::object o;
  o["header"] = jws.header;
  o["claims"] = jws.claims;
  return pretty_json(o);
}

}  // namespace azwi::emulator
