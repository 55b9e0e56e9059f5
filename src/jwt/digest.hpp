#pragma once
// Hashes used for key ids and for logging secrets by fingerprint instead of by value.
#include <string>
#include <string_view>

namespace azwi::jwt {

std::string sha256(std::string_view data);      // raw 32 bytes
std::string sha256_hex(std::string_view data);  // 64 lower-case hex digits
// First 12 hex digits of the SHA-256: enough to tell tokens apart in a log, useless to an attacker.
std::string fingerprint(std::string_view secret);
// n cryptographically random bytes.
std::string random_bytes(std::size_t n);
// A random RFC 4122 version-4 UUID in its textual form.
std::string random_uuid();

}  // namespace azwi::jwt
