#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "common/base64.hpp"
#include "jwt/digest.hpp"
#include "jwt/jwks.hpp"
#include "jwt/jws.hpp"

using namespace azwi;
using namespace azwi::jwt;

namespace {
boost::json::object sample_claims() {
  boost::json::object c;
  c["iss"] = "https://issuer.example";
  c["sub"] = "system:serviceaccount:default:sa";
  c["exp"] = 2000000000;
  return c;
}

// Replaces one part (0 header, 1 payload, 2 signature) of a compact JWS.
std::string replace_part(const std::string& token, int index, const std::string& part) {
  auto d1 = token.find('.');
  auto d2 = token.find('.', d1 + 1);
  std::string parts[3] = {token.substr(0, d1), token.substr(d1 + 1, d2 - d1 - 1), token.substr(d2 + 1)};
  parts[index] = part;
  return parts[0] + "." + parts[1] + "." + parts[2];
}

const Key& rsa_key() {
  static Key k = Key::generate(Alg::RS256);
  return k;
}
const Key& ec_key() {
  static Key k = Key::generate(Alg::ES256);
  return k;
}
}  // namespace

TEST(Base64Url, RoundTripsEveryLength) {
  std::string bytes;
  for (int i = 0; i < 40; ++i) {
    auto enc = base64url_encode(bytes);
    EXPECT_EQ(enc.find_first_of("+/="), std::string::npos);
    auto dec = base64url_decode(enc);
    ASSERT_TRUE(dec) << enc;
    EXPECT_EQ(*dec, bytes);
    bytes += static_cast<char>(i * 37 + 250);
  }
}

TEST(Base64Url, KnownVectors) {
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
  EXPECT_EQ(base64url_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(*base64url_decode("Zm9vYg"), "foob");
}

TEST(Base64Url, RejectsPaddingForeignCharactersAndBadLengths) {
  EXPECT_FALSE(base64url_decode("Zm9vYg=="));
  EXPECT_FALSE(base64url_decode("Zm9v+g"));
  EXPECT_FALSE(base64url_decode("Zm9vY"));
  EXPECT_FALSE(base64url_decode("Zh"));  // non-zero leftover bits
}

TEST(Jws, Rs256SignVerifyRoundTrip) {
  std::string token = sign(rsa_key(), sample_claims());
  Jws jws = parse(token);
  EXPECT_EQ(jws.alg, "RS256");
  EXPECT_EQ(jws.kid, rsa_key().kid());
  EXPECT_EQ(jws.header.at("typ").as_string(), "JWT");
  EXPECT_EQ(jws.claims.at("sub").as_string(), "system:serviceaccount:default:sa");
  EXPECT_EQ(int_claim(jws.claims, "exp"), 2000000000);
  EXPECT_TRUE(verify(jws, rsa_key()));
}

TEST(Jws, Es256UsesRawSixtyFourByteSignature) {
  std::string token = sign(ec_key(), sample_claims());
  Jws jws = parse(token);
  EXPECT_EQ(jws.alg, "ES256");
  EXPECT_EQ(jws.signature.size(), 64u);  // r||s, not DER
  EXPECT_TRUE(verify(jws, ec_key()));
  // The DER form of the same signature is not a valid JWS signature.
  Jws der = jws;
  der.signature = "\x30\x44" + jws.signature.substr(0, 62);
  EXPECT_FALSE(verify(der, ec_key()));
}

TEST(Jws, TamperedPayloadOrSignatureFails) {
  for (const Key* key : {&rsa_key(), &ec_key()}) {
    std::string token = sign(*key, sample_claims());
    auto other = sample_claims();
    other["sub"] = "system:serviceaccount:kube-system:admin";
    std::string forged = replace_part(token, 1, base64url_encode(boost::json::serialize(other)));
    EXPECT_FALSE(verify(parse(forged), *key));
    Jws jws = parse(token);
    jws.signature[5] ^= 0x01;
    EXPECT_FALSE(verify(jws, *key));
  }
}

TEST(Jws, WrongKeyOrWrongAlgFails) {
  Key other = Key::generate(Alg::RS256);
  std::string token = sign(rsa_key(), sample_claims());
  EXPECT_FALSE(verify(parse(token), other));
  EXPECT_FALSE(verify(parse(token), ec_key()));
  // A header claiming another algorithm (or none) never verifies, whatever the signature.
  for (const char* alg : {"HS256", "none", "ES256", "RS512"}) {
    boost::json::object header;
    header["alg"] = alg;
    header["kid"] = rsa_key().kid();
    std::string swapped = replace_part(token, 0, base64url_encode(boost::json::serialize(header)));
    Jws jws = parse(swapped);
    EXPECT_FALSE(verify(jws, rsa_key())) << alg;
  }
}

TEST(Jws, ParseRejectsMalformedTokens) {
  std::string token = sign(rsa_key(), sample_claims());
  EXPECT_THROW(parse("abc"), Error);
  EXPECT_THROW(parse("a.b"), Error);
  EXPECT_THROW(parse(token + ".x"), Error);
  EXPECT_THROW(parse(replace_part(token, 1, "!!!")), Error);
  EXPECT_THROW(parse(replace_part(token, 1, base64url_encode("[1,2]"))), Error);
  EXPECT_THROW(parse(replace_part(token, 0, base64url_encode(R"({"typ":"JWT"})"))), Error);
}

TEST(Key, PemRoundTripKeepsIdentity) {
  for (const Key* key : {&rsa_key(), &ec_key()}) {
    Key priv = Key::from_pem(key->private_pem());
    EXPECT_TRUE(priv.has_private());
    EXPECT_EQ(priv.thumbprint(), key->thumbprint());
    Key pub = Key::from_pem(key->public_pem());
    EXPECT_FALSE(pub.has_private());
    EXPECT_THROW(pub.private_pem(), Error);
    EXPECT_TRUE(verify(parse(sign(priv, sample_claims())), pub));
  }
  EXPECT_THROW(Key::from_pem("not a key"), Error);
}

TEST(Key, ThumbprintMatchesRfc7638Example) {
  // The RSA key of RFC 7638 §3.1 and its published thumbprint.
  auto jwk = boost::json::parse(
                 R"({"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"})")
                 .as_object();
  Key key = Key::from_jwk(jwk);
  EXPECT_EQ(key.thumbprint(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
  EXPECT_EQ(key.kid(), "2011-04-29");
}

TEST(Jwks, RenderThenParseVerifiesTokens) {
  std::string jwks = render_jwks({rsa_key(), ec_key()});
  auto doc = boost::json::parse(jwks).as_object();
  ASSERT_EQ(doc.at("keys").as_array().size(), 2u);
  auto first = doc.at("keys").as_array()[0].as_object();
  EXPECT_EQ(first.at("kty").as_string(), "RSA");
  EXPECT_EQ(first.at("use").as_string(), "sig");
  EXPECT_EQ(first.at("e").as_string(), "AQAB");
  auto second = doc.at("keys").as_array()[1].as_object();
  EXPECT_EQ(second.at("crv").as_string(), "P-256");

  KeySet set = parse_jwks(jwks);
  for (const Key* key : {&rsa_key(), &ec_key()}) {
    Jws jws = parse(sign(*key, sample_claims()));
    auto found = set.find(jws.kid);
    ASSERT_EQ(found.size(), 1u);
    EXPECT_TRUE(verify(jws, *found[0]));
  }
}

TEST(Jwks, SkipsUnusableKeysAndRejectsNonSets) {
  std::size_t skipped = 0;
  auto set = parse_jwks(R"({"keys":[{"kty":"oct","k":"AAAA"},{"kty":"RSA","n":"!!","e":"AQAB"},
                                    {"kty":"EC","crv":"P-384","x":"AA","y":"AA"},7,)" +
                            boost::json::serialize(rsa_key().public_jwk()) + "]}",
                        &skipped);
  EXPECT_EQ(set.keys.size(), 1u);
  EXPECT_EQ(skipped, 4u);
  EXPECT_THROW(parse_jwks("[]"), Error);
  EXPECT_THROW(parse_jwks(R"({"keys":{}})"), Error);
  EXPECT_THROW(parse_jwks("not json"), Error);
}

TEST(Jwks, RejectsEcPointOffTheCurve) {
  auto jwk = ec_key().public_jwk();
  jwk["y"] = jwk["x"];  // almost surely not on the curve
  EXPECT_THROW(Key::from_jwk(jwk), Error);
}

TEST(Digest, FingerprintIsShortAndStable) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(fingerprint("abc"), "ba7816bf8f01");
  auto u = random_uuid();
  EXPECT_EQ(u.size(), 36u);
  EXPECT_EQ(u[14], '4');
}
