#pragma once
// The project's private PKI, apart from where it is kept (the webhook's Secret, the emulator's state directory): a CA
// and a serving certificate it signs for DNS names and IP addresses (EC P-256, SHA-256), checks of a pair found
// somewhere (parse, keys, chain, names, time left) and the PEM texts.
// Every OpenSSL step is checked: making keys or certificates throws certs::Error naming the step that failed;
// checking never throws, it says why a pair cannot be served.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "certs/openssl.hpp"
#include "common/clock.hpp"

namespace azwi::certs {

// PEM texts. ca_cert may hold several CA certificates: the first one (whose key is ca_key) signs; the others are
// earlier CAs still published so certificates they signed stay trusted.
struct Pki {
  std::string ca_cert, ca_key, cert, key;
  bool operator==(const Pki&) const = default;
};

// A serving certificate's names are DNS names or IP addresses: a name that parses as an IPv4 or IPv6 address is an
// IP address. Its subjectAltName entry: "IP:<address>" or "DNS:<name>".
std::string san_entry(std::string_view name);

// DNS names of a Service's serving certificate: service, service.ns, service.ns.svc, service.ns.svc.cluster.local.
std::vector<std::string> serving_dns_names(std::string_view service, std::string_view ns);

struct PkiCheck {
  bool usable = false;    // false: replace (reason says why)
  bool renew_ca = false;  // the replacement needs a new CA too
  std::string reason;
  Clock::time_point cert_not_after{}, ca_not_after{};
};
// Whether `pki` can be served at `now`: everything parses, the keys match, the certificate chains to the first CA,
// names every name, and more than a third of each certificate's lifetime is left.
PkiCheck check_pki(const Pki& pki, const std::vector<std::string>& names, Clock::time_point now);

// What a new PKI looks like apart from its names: lifetimes and the CA's common name (what a user who looks at the
// CA sees it is for).
struct PkiProfile {
  std::chrono::seconds ca{std::chrono::hours(24 * 365 * 10)};
  std::chrono::seconds cert{std::chrono::hours(24 * 365)};
  std::string ca_name{"azwi-webhook-ca"};
};
// A new serving certificate signed by the first CA of `keep_ca` (when given and that CA is not due for renewal),
// else by a new CA that is published together with keep_ca's still-valid CAs. Throws Error.
// The certificate's common name is its first name.
Pki issue_pki(const std::vector<std::string>& names, Clock::time_point now, const PkiProfile& profile,
              const Pki* keep_ca);

// First 12 hex digits of the SHA-256 of the first certificate's DER, for logs; "none" without a certificate.
std::string cert_fingerprint(std::string_view cert_pem);
// notAfter of the first certificate of a PEM text; nullopt without one.
std::optional<Clock::time_point> cert_not_after(std::string_view cert_pem);

}  // namespace azwi::certs
