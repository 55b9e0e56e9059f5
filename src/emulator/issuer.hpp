#pragma once
// The cluster OIDC issuer role: the discovery document and JWKS that Entra fetches to validate service-account
// tokens, served at {issuer}/.well-known/openid-configuration and {issuer}/openid/v1/jwks (the Kubernetes paths).
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.hpp"
#include "emulator/keyring.hpp"
#include "emulator/reply.hpp"

namespace azwi::emulator {

class OidcIssuer {
 public:
  // issuer: the URL without a trailing slash; its path part prefixes both routes.
  OidcIssuer(std::string issuer, KeyRing& keys, Clock& clock, std::int64_t clock_skew);
  // nullopt when the path is not one of the issuer's.
  std::optional<Reply> handle(std::string_view method, std::string_view path);
  const std::string& issuer() const { return issuer_; }
  std::string jwks_uri() const { return issuer_ + "/openid/v1/jwks"; }

 private:
  std::string issuer_, path_prefix_;
  KeyRing& keys_;
  Clock& clock_;
  std::int64_t clock_skew_;
};

}  // namespace azwi::emulator
