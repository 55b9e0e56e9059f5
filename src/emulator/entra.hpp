#pragma once
// The Entra ID role: the v2.0 token endpoint's client-assertion (workload identity federation) flow with Entra's
// validation order and error shapes, plus the discovery documents MSAL-based SDKs read before the token request.
#include <cstdint>
#include <string>
#include <string_view>

#include "common/clock.hpp"
#include "emulator/config.hpp"
#include "emulator/form.hpp"
#include "emulator/jwks_cache.hpp"
#include "emulator/keyring.hpp"

namespace azwi::emulator {

struct EntraOptions {
  std::string base_url;               // authority host with trailing slash, e.g. https://127.0.0.1:8443/
  std::int64_t token_lifetime = 3600;  // access-token lifetime, seconds
  std::int64_t refresh_in = 0;        // 0: no refresh_in member
  std::int64_t clock_skew = 300;      // tolerance for the assertion's exp/nbf/iat, seconds
};

struct EntraAnswer {
  unsigned status = 200;
  std::string body;        // JSON
  std::string error;       // OAuth error ("invalid_client"), empty on success
  int error_code = 0;      // the AADSTS number
  std::string client_id;   // for the request log
  std::string subject;     // the assertion's sub, when it was readable
  std::string token_fingerprint;  // of the issued access token
};

// Entra's error body: error, error_description ("AADSTS<code>: <message> Trace ID: ... Timestamp: ..."),
// error_codes, timestamp, trace_id, correlation_id, error_uri.
EntraAnswer entra_error(unsigned status, std::string error, int code, const std::string& message,
                        const std::string& base_url, Clock::time_point now, std::string_view correlation_id);

class EntraService {
 public:
  EntraService(Directory directory, JwksCache& jwks, KeyRing& keys, Clock& clock, EntraOptions options);

  // POST {tenant}/oauth2/v2.0/token
  EntraAnswer token(std::string_view tenant, std::string_view content_type, std::string_view body,
                    std::string_view correlation_id);
  // GET {tenant}/v2.0/.well-known/openid-configuration (and the v1 form without v2.0)
  EntraAnswer openid_configuration(std::string_view tenant, bool v2);
  // GET {tenant}/discovery/v2.0/keys
  std::string jwks();
  // GET {any}/discovery/instance?api-version=1.1&authorization_endpoint=...
  EntraAnswer instance_discovery(const Form& query);

  std::shared_ptr<const Directory> directory() const { return store_.snapshot(); }
  // What ARM changes (federated credentials); the token endpoint reads each request's snapshot.
  DirectoryStore& store() { return store_; }
  const EntraOptions& options() const { return options_; }

 private:
  std::string issue_access_token(const Tenant& tenant, const Identity& identity, const std::string& resource,
                                 std::int64_t now);

  DirectoryStore store_;
  JwksCache& jwks_;
  KeyRing& keys_;
  Clock& clock_;
  EntraOptions options_;
};

}  // namespace azwi::emulator
