// libFuzzer target: any text as a JWT (the projected service account token the emulator validates, the tokens a
// test decodes) and as a JWKS document (an issuer's keys). Parsing throws jwt::Error or succeeds; verification of
// whatever parsed against whatever keys parsed never throws and never crashes. The first byte splits the input.
#include <cstdint>
#include <string_view>

#include "jwt/jwks.hpp"
#include "jwt/jws.hpp"

using namespace azwi;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::size_t cut = std::min<std::size_t>(rest.size(), data[0] * 4);
  std::string_view token = rest.substr(0, cut), jwks = rest.substr(cut);
  std::optional<jwt::Jws> jws;
  try {
    jws = jwt::parse(token);
    (void)jwt::int_claim(jws->claims, "exp");
    (void)jwt::string_claim(jws->claims, "sub");
  } catch (const jwt::Error&) {
  }
  try {
    std::size_t skipped = 0;
    jwt::KeySet keys = jwt::parse_jwks(jwks, &skipped);
    if (jws)
      for (const auto* key : keys.find(jws->kid)) (void)jwt::verify(*jws, *key);
  } catch (const jwt::Error&) {
  }
  return 0;
}
