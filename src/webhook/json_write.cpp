#include "webhook/json_write.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <charconv>

#include "common/json_text.hpp"

namespace azwi::webhook {

namespace {
template <class Int>
void append_integer(std::string& out, Int v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}
}  // namespace

void append_json(std::string& out, const boost::json::object& o) {
  out += '{';
  bool first = true;
  for (const auto& kv : o) {
    if (!first) out += ',';
    first = false;
    json_text::append_quoted(out, kv.key());
    out += ':';
    append_json(out, kv.value());
  }
  out += '}';
}

void append_json(std::string& out, const boost::json::array& a) {
  out += '[';
  bool first = true;
  for (const auto& v : a) {
    if (!first) out += ',';
    first = false;
    append_json(out, v);
  }
  out += ']';
}

void append_json(std::string& out, const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::null: out += "null"; break;
    case boost::json::kind::bool_: out += v.get_bool() ? "true" : "false"; break;
    case boost::json::kind::int64: append_integer(out, v.get_int64()); break;
    case boost::json::kind::uint64: append_integer(out, v.get_uint64()); break;
    // Shortest round-trip form and the spelling of infinities are Boost's business: rare here, so delegate.
    case boost::json::kind::double_: out += boost::json::serialize(v); break;
    case boost::json::kind::string: json_text::append_quoted(out, v.get_string()); break;
    case boost::json::kind::array: append_json(out, v.get_array()); break;
    case boost::json::kind::object: append_json(out, v.get_object()); break;
  }
}

}  // namespace azwi::webhook
