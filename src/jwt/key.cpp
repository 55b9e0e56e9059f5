#include "jwt/key.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <boost/json/serialize.hpp>
#include <vector>

#include "common/base64.hpp"
#include "jwt/digest.hpp"

namespace azwi::jwt {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct BnFree {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
struct CtxFree {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
struct BldFree {
  void operator()(OSSL_PARAM_BLD* b) const { OSSL_PARAM_BLD_free(b); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;

std::shared_ptr<EVP_PKEY> own(EVP_PKEY* p) { return std::shared_ptr<EVP_PKEY>(p, EVP_PKEY_free); }

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(len));
}

// A big number as big-endian bytes, left-padded to width (0: minimal length).
std::string bn_bytes(const BIGNUM* bn, int width) {
  int n = width > 0 ? width : BN_num_bytes(bn);
  std::string out(static_cast<std::size_t>(n), '\0');
  if (BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), n) != n) throw Error("number too large for field");
  return out;
}

BnPtr bn_param(EVP_PKEY* pkey, const char* name) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, name, &bn) != 1) throw Error(std::string("key lacks parameter ") + name);
  return BnPtr(bn);
}

std::string jwk_member(const boost::json::object& jwk, const char* name) {
  auto it = jwk.find(name);
  if (it == jwk.end() || !it->value().is_string()) throw Error(std::string("JWK member \"") + name + "\" is missing");
  auto decoded = base64url_decode(it->value().as_string());
  if (!decoded || decoded->empty())
    throw Error(std::string("JWK member \"") + name + "\" is not base64url");
  return *decoded;
}

std::shared_ptr<EVP_PKEY> from_params(const char* type, OSSL_PARAM_BLD* bld) {
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld));
  std::unique_ptr<EVP_PKEY_CTX, CtxFree> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* pkey = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
    throw Error(std::string("JWK is not a valid ") + type + " public key: " + openssl_error());
  return own(pkey);
}

}  // namespace

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  char buf[256] = "unknown error";
  if (e) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

std::string_view alg_name(Alg alg) { return alg == Alg::RS256 ? "RS256" : "ES256"; }

std::optional<Alg> parse_alg(std::string_view name) {
  if (name == "RS256") return Alg::RS256;
  if (name == "ES256") return Alg::ES256;
  return std::nullopt;
}

Key::Key(std::shared_ptr<EVP_PKEY> pkey, bool has_private) : pkey_(std::move(pkey)), has_private_(has_private) {
  if (EVP_PKEY_is_a(pkey_.get(), "RSA")) {
    if (EVP_PKEY_get_bits(pkey_.get()) < 2048) throw Error("RSA keys shorter than 2048 bits are not accepted");
    alg_ = Alg::RS256;
  } else if (EVP_PKEY_is_a(pkey_.get(), "EC")) {
    char group[64] = {0};
    std::size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(pkey_.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len) != 1 ||
        std::string_view(group) != "prime256v1")
      throw Error("EC keys must be on curve P-256 for ES256");
    alg_ = Alg::ES256;
  } else {
    throw Error("key is neither RSA nor EC");
  }
  kid_ = thumbprint();
}

Key Key::generate(Alg alg) {
  EVP_PKEY* p = alg == Alg::RS256 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048))
                                  : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  if (!p) throw Error("key generation failed: " + openssl_error());
  return Key(own(p), true);
}

Key Key::from_pem(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (EVP_PKEY* p = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr)) return Key(own(p), true);
  ERR_clear_error();
  bio.reset(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (EVP_PKEY* p = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr)) return Key(own(p), false);
  throw Error("not a PEM private or public key: " + openssl_error());
}

Key Key::from_jwk(const boost::json::object& jwk) {
  auto kty_it = jwk.find("kty");
  if (kty_it == jwk.end() || !kty_it->value().is_string()) throw Error("JWK member \"kty\" is missing");
  std::string_view kty = kty_it->value().as_string();
  std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(OSSL_PARAM_BLD_new());
  std::shared_ptr<EVP_PKEY> pkey;
  if (kty == "RSA") {
    std::string n = jwk_member(jwk, "n"), e = jwk_member(jwk, "e");
    BnPtr bn_n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()), static_cast<int>(n.size()), nullptr));
    BnPtr bn_e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()), static_cast<int>(e.size()), nullptr));
    OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get());
    OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get());
    pkey = from_params("RSA", bld.get());
  } else if (kty == "EC") {
    auto crv = jwk.find("crv");
    if (crv == jwk.end() || !crv->value().is_string() || crv->value().as_string() != "P-256")
      throw Error("JWK member \"crv\" must be P-256");
    std::string x = jwk_member(jwk, "x"), y = jwk_member(jwk, "y");
    if (x.size() != 32 || y.size() != 32) throw Error("JWK members \"x\" and \"y\" must be 32 bytes for P-256");
    std::string point = "\x04" + x + y;
    OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
    OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
    pkey = from_params("EC", bld.get());
  } else {
    throw Error("JWK kty \"" + std::string(kty) + "\" is not supported (RSA or EC)");
  }
  Key key(std::move(pkey), false);
  if (auto kid = jwk.find("kid"); kid != jwk.end() && kid->value().is_string())
    key.kid_ = std::string(kid->value().as_string());
  return key;
}

std::string Key::private_pem() const {
  if (!has_private_) throw Error("key has no private half");
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PrivateKey(bio.get(), pkey_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    throw Error("cannot write private key: " + openssl_error());
  return bio_text(bio.get());
}

std::string Key::public_pem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PUBKEY(bio.get(), pkey_.get()) != 1) throw Error("cannot write public key: " + openssl_error());
  return bio_text(bio.get());
}

std::string Key::public_der() const {
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(pkey_.get(), &der);
  if (len <= 0) throw Error("cannot encode public key: " + openssl_error());
  std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len));
  OPENSSL_free(der);
  return out;
}

boost::json::object Key::public_jwk() const {
  boost::json::object jwk;
  if (alg_ == Alg::RS256) {
    jwk["kty"] = "RSA";
    jwk["use"] = "sig";
    jwk["alg"] = "RS256";
    jwk["kid"] = kid_;
    jwk["n"] = base64url_encode(bn_bytes(bn_param(pkey_.get(), OSSL_PKEY_PARAM_RSA_N).get(), 0));
    jwk["e"] = base64url_encode(bn_bytes(bn_param(pkey_.get(), OSSL_PKEY_PARAM_RSA_E).get(), 0));
  } else {
    jwk["kty"] = "EC";
    jwk["use"] = "sig";
    jwk["alg"] = "ES256";
    jwk["kid"] = kid_;
    jwk["crv"] = "P-256";
    jwk["x"] = base64url_encode(bn_bytes(bn_param(pkey_.get(), OSSL_PKEY_PARAM_EC_PUB_X).get(), 32));
    jwk["y"] = base64url_encode(bn_bytes(bn_param(pkey_.get(), OSSL_PKEY_PARAM_EC_PUB_Y).get(), 32));
  }
  return jwk;
}

std::string Key::thumbprint() const {
  // RFC 7638: the required members only, in lexicographic order, no whitespace.
  boost::json::object jwk = public_jwk();
  std::string canonical;
  auto str = [&](const char* k) { return std::string(jwk[k].as_string()); };
  if (alg_ == Alg::RS256) {
    canonical = R"({"e":")" + str("e") + R"(","kty":"RSA","n":")" + str("n") + R"("})";
  } else {
    canonical = R"({"crv":"P-256","kty":"EC","x":")" + str("x") + R"(","y":")" + str("y") + R"("})";
  }
  return base64url_encode(sha256(canonical));
}

}  // namespace azwi::jwt
