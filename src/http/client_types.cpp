#include "http/client_types.hpp"

#include <cctype>

#include "common/env.hpp"

namespace azwi::http {

std::optional<std::string> ClientResponse::header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers)
    if (k == lower_name) return v;
  return std::nullopt;
}

ClientOptions client_options_from_env(std::string user_agent) {
  ClientOptions o;
  o.user_agent = std::move(user_agent);
  o.ca_file = env_or("SSL_CERT_FILE", "");
  o.ca_dir = env_or("SSL_CERT_DIR", "");
  return o;
}

std::string form_encode(std::string_view value) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size() + 16);
  for (unsigned char ch : value) {
    if (std::isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
      out += static_cast<char>(ch);
    } else {
      out += '%';
      out += hex[ch >> 4];
      out += hex[ch & 0xf];
    }
  }
  return out;
}

}  // namespace azwi::http
