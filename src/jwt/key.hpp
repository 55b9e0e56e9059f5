#pragma once
// An asymmetric JWS key (RSA 2048+ for RS256, P-256 for ES256) over OpenSSL 3 EVP_PKEY: generation, PEM and JWK
// forms, RFC 7638 thumbprints. A Key may hold only the public half (parsed from a JWK or a public PEM).
#include <boost/json/object.hpp>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

typedef struct evp_pkey_st EVP_PKEY;

namespace azwi::jwt {

enum class Alg { RS256, ES256 };
std::string_view alg_name(Alg alg);
std::optional<Alg> parse_alg(std::string_view name);

// Any failure of this library: bad key material, malformed token, OpenSSL error.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Key {
 public:
  static Key generate(Alg alg);
  // PKCS#8 / traditional private key or SubjectPublicKeyInfo PEM. Throws Error.
  static Key from_pem(std::string_view pem);
  // A public JWK (kty RSA with n,e; kty EC crv P-256 with x,y). Throws Error naming the bad member.
  static Key from_jwk(const boost::json::object& jwk);

  Alg alg() const { return alg_; }
  bool has_private() const { return has_private_; }
  // The kid this key is published and signs under; defaults to the RFC 7638 thumbprint.
  const std::string& kid() const { return kid_; }
  void set_kid(std::string kid) { kid_ = std::move(kid); }

  std::string private_pem() const;  // PKCS#8; throws Error when the key is public only
  std::string public_pem() const;
  std::string public_der() const;  // SubjectPublicKeyInfo, the bytes Kubernetes derives its key ids from
  // kty, use "sig", alg, kid and the public numbers.
  boost::json::object public_jwk() const;
  std::string thumbprint() const;  // base64url SHA-256 of the canonical public JWK (RFC 7638)

  EVP_PKEY* native() const { return pkey_.get(); }

 private:
  Key(std::shared_ptr<EVP_PKEY> pkey, bool has_private);
  std::shared_ptr<EVP_PKEY> pkey_;
  Alg alg_ = Alg::RS256;
  bool has_private_ = false;
  std::string kid_;
};

// The last OpenSSL error as text (and clears the queue); "unknown error" when there is none.
std::string openssl_error();

}  // namespace azwi::jwt
