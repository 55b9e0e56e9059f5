#include "jwt/jwks.hpp"

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace azwi::jwt {

std::string render_jwks(const std::vector<Key>& keys) {
  boost::json::array arr;
  for (const auto& k : keys) arr.push_back(k.public_jwk());
  boost::json::object doc;
  doc["keys"] = std::move(arr);
  return boost::json::serialize(doc);
}

std::vector<const Key*> KeySet::find(std::string_view kid) const {
  std::vector<const Key*> out;
  for (const auto& k : keys)
    if (k.kid() == kid) out.push_back(&k);
  return out;
}

KeySet parse_jwks(std::string_view json, std::size_t* skipped) {
  boost::system::error_code ec;
  boost::json::value doc = boost::json::parse(json, ec);
  if (ec || !doc.is_object()) throw Error("JWKS is not a JSON object");
  auto it = doc.as_object().find("keys");
  if (it == doc.as_object().end() || !it->value().is_array()) throw Error("JWKS has no \"keys\" array");
  KeySet set;
  std::size_t bad = 0;
  for (const auto& v : it->value().as_array()) {
    if (!v.is_object()) {
      ++bad;
      continue;
    }
    const auto& jwk = v.as_object();
    if (auto use = jwk.find("use"); use != jwk.end() && use->value().is_string() && use->value().as_string() != "sig") {
      ++bad;
      continue;
    }
    try {
      set.keys.push_back(Key::from_jwk(jwk));
    } catch (const Error&) {
      ++bad;
    }
  }
  if (skipped) *skipped = bad;
  return set;
}

}  // namespace azwi::jwt
