#include "imds/token_response.hpp"

#include "common/json_text.hpp"
#include "imds/errors.hpp"

namespace azwi::imds {
namespace {
void add_string_field(std::string& out, std::string_view key, std::string_view value) {
  out += '"';
  out += key;
  out += "\":";
  json_text::append_quoted(out, value);
}
void add_number_field(std::string& out, std::string_view key, std::int64_t value) {
  out += '"';
  out += key;
  out += "\":\"";
  out += std::to_string(value);
  out += '"';
}
}  // namespace

std::string render_token_body(const TokenAnswer& a, std::int64_t now) {
  std::int64_t expires_in = a.expires_on - now;
  if (expires_in < 1) expires_in = 1;
  std::int64_t ext_expires_in = a.ext_expires_on - now;
  if (ext_expires_in < expires_in) ext_expires_in = expires_in;
  std::string out;
  out.reserve(a.access_token.size() + a.resource.size() + 256);
  out += '{';
  add_string_field(out, "access_token", a.access_token);
  out += ',';
  add_string_field(out, "client_id", a.client_id);
  out += ',';
  add_number_field(out, "expires_in", expires_in);
  out += ',';
  add_number_field(out, "expires_on", a.expires_on);
  out += ',';
  add_number_field(out, "ext_expires_in", ext_expires_in);
  out += ',';
  add_number_field(out, "not_before", a.not_before);
  out += ",\"refresh_token\":\"\",";
  add_string_field(out, "resource", a.resource);
  out += ",\"token_type\":\"Bearer\"}";
  return out;
}

std::string render_error_body(const Error& e) {
  std::string out = "{";
  add_string_field(out, "error", e.error);
  out += ',';
  add_string_field(out, "error_description", e.description);
  out += '}';
  return out;
}

}  // namespace azwi::imds
