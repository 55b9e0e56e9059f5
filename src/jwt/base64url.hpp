#pragma once
// base64url without padding (RFC 7515 §2), the encoding of every JWS part and JWK number.
#include <optional>
#include <string>
#include <string_view>

namespace azwi::jwt {

std::string base64url_encode(std::string_view bytes);
// nullopt on a character outside the alphabet, on padding, or on an impossible length (4n+1).
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace azwi::jwt
