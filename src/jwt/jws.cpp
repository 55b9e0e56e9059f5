#include "jwt/jws.hpp"

#include <openssl/ecdsa.h>
#include <openssl/evp.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cmath>
#include <memory>

#include "common/base64.hpp"

namespace azwi::jwt {
namespace {

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
struct SigFree {
  void operator()(ECDSA_SIG* s) const { ECDSA_SIG_free(s); }
};

constexpr int kP256FieldBytes = 32;

std::string der_to_raw(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<ECDSA_SIG, SigFree> sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  if (!sig) throw Error("ECDSA signature is not DER");
  std::string raw(2 * kP256FieldBytes, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  if (BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), out, kP256FieldBytes) != kP256FieldBytes ||
      BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), out + kP256FieldBytes, kP256FieldBytes) != kP256FieldBytes)
    throw Error("ECDSA signature does not fit P-256");
  return raw;
}

// Empty when raw is not 64 bytes.
std::string raw_to_der(std::string_view raw) {
  if (raw.size() != 2 * kP256FieldBytes) return {};
  const auto* in = reinterpret_cast<const unsigned char*>(raw.data());
  std::unique_ptr<ECDSA_SIG, SigFree> sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(in, kP256FieldBytes, nullptr);
  BIGNUM* s = BN_bin2bn(in + kP256FieldBytes, kP256FieldBytes, nullptr);
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return {};
  }
  int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (len <= 0) return {};
  std::string der(static_cast<std::size_t>(len), '\0');
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  i2d_ECDSA_SIG(sig.get(), &p);
  return der;
}

boost::json::object decode_object(std::string_view part, const char* what) {
  auto bytes = base64url_decode(part);
  if (!bytes) throw Error(std::string("JWT ") + what + " is not base64url");
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(*bytes, ec);
  if (ec || !v.is_object()) throw Error(std::string("JWT ") + what + " is not a JSON object");
  return std::move(v.as_object());
}

}  // namespace

std::string sign(const Key& key, const boost::json::object& claims, const boost::json::object& extra_header) {
  boost::json::object header;
  header["alg"] = alg_name(key.alg());
  header["typ"] = "JWT";
  header["kid"] = key.kid();
  for (const auto& [k, v] : extra_header) header[k] = v;
  std::string input = base64url_encode(boost::json::serialize(header)) + "." +
                      base64url_encode(boost::json::serialize(claims));
  MdCtxPtr ctx(EVP_MD_CTX_new());
  std::size_t len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.native()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
    throw Error("signing failed: " + openssl_error());
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
    throw Error("signing failed: " + openssl_error());
  sig.resize(len);
  if (key.alg() == Alg::ES256) sig = der_to_raw(sig);
  return input + "." + base64url_encode(sig);
}

Jws parse(std::string_view token) {
  auto dot1 = token.find('.');
  auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
    throw Error("JWT must have three dot-separated parts");
  Jws jws;
  jws.header = decode_object(token.substr(0, dot1), "header");
  jws.claims = decode_object(token.substr(dot1 + 1, dot2 - dot1 - 1), "payload");
  auto sig = base64url_decode(token.substr(dot2 + 1));
  if (!sig) throw Error("JWT signature is not base64url");
  jws.signature = std::move(*sig);
  jws.signing_input = std::string(token.substr(0, dot2));
  auto alg = jws.header.find("alg");
  if (alg == jws.header.end() || !alg->value().is_string()) throw Error("JWT header has no \"alg\"");
  jws.alg = std::string(alg->value().as_string());
  if (auto kid = jws.header.find("kid"); kid != jws.header.end()) {
    if (!kid->value().is_string()) throw Error("JWT header \"kid\" is not a string");
    jws.kid = std::string(kid->value().as_string());
  }
  return jws;
}

bool verify(const Jws& jws, const Key& key) {
  auto alg = parse_alg(jws.alg);
  if (!alg || *alg != key.alg()) return false;
  std::string sig = jws.signature;
  if (key.alg() == Alg::ES256) {
    sig = raw_to_der(sig);
    if (sig.empty()) return false;
  }
  MdCtxPtr ctx(EVP_MD_CTX_new());
  bool ok = ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.native()) == 1 &&
            EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                             reinterpret_cast<const unsigned char*>(jws.signing_input.data()),
                             jws.signing_input.size()) == 1;
  if (!ok) openssl_error();  // drop the queued error so it does not leak into an unrelated later report
  return ok;
}

std::optional<std::int64_t> int_claim(const boost::json::object& claims, std::string_view name) {
  auto it = claims.find(name);
  if (it == claims.end()) return std::nullopt;
  const auto& v = it->value();
  if (v.is_int64()) return v.as_int64();
  if (v.is_uint64() && v.as_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) return static_cast<std::int64_t>(v.as_uint64());
  if (v.is_double() && std::isfinite(v.as_double()) && std::abs(v.as_double()) < 9e15)
    return static_cast<std::int64_t>(v.as_double());
  return std::nullopt;
}

std::optional<std::string> string_claim(const boost::json::object& claims, std::string_view name) {
  auto it = claims.find(name);
  if (it == claims.end() || !it->value().is_string()) return std::nullopt;
  return std::string(it->value().as_string());
}

}  // namespace azwi::jwt
