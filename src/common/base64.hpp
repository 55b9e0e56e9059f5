#pragma once
// The project's one base64 codec: standard with padding (RFC 4648 §4: Kubernetes Secret and kubeconfig data, the
// admission patch, Basic credentials) and base64url without padding (RFC 7515 §2: JWS parts, JWK numbers).
#include <optional>
#include <string>
#include <string_view>

namespace azwi {

// Standard alphabet, padded, appended to `out`. Table-driven, because every admission encodes its whole patch.
void append_base64(std::string& out, std::string_view bytes);
std::string base64_encode(std::string_view bytes);
// Standard alphabet. ASCII whitespace is ignored (wrapped data); padding may be left out. nullopt on any other
// character, on '=' before the end or more than two of them, or on an impossible length.
std::optional<std::string> base64_decode(std::string_view text);

std::string base64url_encode(std::string_view bytes);
// nullopt on a character outside the alphabet, on padding, on an impossible length (4n+1) or on non-zero leftover
// bits (two texts must not decode to the same bytes).
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace azwi
