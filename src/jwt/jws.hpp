#pragma once
// Compact JWS (JWT) signing and verification with RS256 and ES256. ES256 signatures use the JWS form
// (raw r||s, 64 bytes), not OpenSSL's DER: conversion happens here.
#include <boost/json/object.hpp>
#include <string>
#include <string_view>

#include "jwt/key.hpp"

namespace azwi::jwt {

// Signs claims with key; the header carries alg, typ "JWT" and kid, plus any members of extra_header.
std::string sign(const Key& key, const boost::json::object& claims, const boost::json::object& extra_header = {});

struct Jws {
  boost::json::object header;
  boost::json::object claims;
  std::string alg;            // header "alg" as given
  std::string kid;            // header "kid", empty when absent
  std::string signing_input;  // "<header>.<payload>" as received
  std::string signature;      // decoded signature bytes
};

// Splits and decodes a compact JWS whose header and payload are JSON objects. Checks the form only, not the
// signature. Throws Error saying what is malformed.
Jws parse(std::string_view token);

// True when the signature verifies with key and the header's alg is the key's algorithm. Never throws.
bool verify(const Jws& jws, const Key& key);

// Reads a numeric claim (integer or integral double) or nullopt when absent or not a number.
std::optional<std::int64_t> int_claim(const boost::json::object& claims, std::string_view name);
// Reads a string claim or nullopt when absent or not a string.
std::optional<std::string> string_claim(const boost::json::object& claims, std::string_view name);

}  // namespace azwi::jwt
