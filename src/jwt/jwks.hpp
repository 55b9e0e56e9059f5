#pragma once
// JWK Sets: rendering the public keys a signer publishes, and parsing a fetched set for verification.
#include <string>
#include <string_view>
#include <vector>

#include "jwt/key.hpp"

namespace azwi::jwt {

// {"keys":[<public JWK>...]}
std::string render_jwks(const std::vector<Key>& keys);

struct KeySet {
  std::vector<Key> keys;
  // Keys with that kid (usually one).
  std::vector<const Key*> find(std::string_view kid) const;
};

// Parses a JWKS document. Members this library cannot use (other kty, "use":"enc", bad numbers) are skipped and
// counted in skipped, as JWKS consumers do; a document that is not {"keys":[...]} throws Error.
KeySet parse_jwks(std::string_view json, std::size_t* skipped = nullptr);

}  // namespace azwi::jwt
