#pragma once
// The webhook's own serving certificate (unless --disable-cert-rotation): a CA and a certificate for
// <service>.<namespace>.svc, made with OpenSSL and kept in one Secret that every replica shares (the single source
// of truth: whoever writes first wins, the others adopt its content after a resourceVersion conflict). Each replica
// copies the Secret's pair into its certificate directory and keeps the caBundle of the
// MutatingWebhookConfiguration equal to the Secret's CA bundle. Certificates are renewed when a third of their
// lifetime is left; a renewed CA is published next to the previous one until that expires, so the API server
// trusts the certificates of replicas that have not picked up the new pair yet.
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <condition_variable>
#include <vector>

#include "common/clock.hpp"

namespace azwi::kube {
class ApiClient;
}

namespace azwi::webhook {

// The upstream Azure AD Workload Identity names, so the chart (deploy/helm) and clusters moving from the upstream
// webhook agree with these defaults (tests/deploy checks the chart against them).
inline constexpr std::string_view kDefaultNamespace = "azure-workload-identity-system";
inline constexpr std::string_view kDefaultCertSecretName = "azure-wi-webhook-server-cert";
inline constexpr std::string_view kDefaultServiceName = "azure-wi-webhook-webhook-service";
inline constexpr std::string_view kDefaultWebhookConfigName = "azure-wi-webhook-mutating-webhook-configuration";
// Keys of the Secret, as the upstream's cert-controller writes them (an upstream Secret is adopted while valid).
inline constexpr std::string_view kCaCertKey = "ca.crt", kCaKeyKey = "ca.key", kCertKey = "tls.crt",
                                  kKeyKey = "tls.key";

// PEM texts. ca_cert may hold several CA certificates: the first one (whose key is ca_key) signs; the others are
// earlier CAs still published so certificates they signed stay trusted.
struct Pki {
  std::string ca_cert, ca_key, cert, key;
  bool operator==(const Pki&) const = default;
};

// DNS names of the serving certificate: service, service.ns, service.ns.svc, service.ns.svc.cluster.local.
std::vector<std::string> serving_dns_names(std::string_view service, std::string_view ns);

struct PkiCheck {
  bool usable = false;      // false: replace (reason says why)
  bool renew_ca = false;    // the replacement needs a new CA too
  std::string reason;
  Clock::time_point cert_not_after{}, ca_not_after{};
};
// Whether `pki` can be served at `now`: everything parses, the keys match, the certificate chains to the first CA,
// names every DNS name, and more than a third of each certificate's lifetime is left.
PkiCheck check_pki(const Pki& pki, const std::vector<std::string>& dns_names, Clock::time_point now);

struct PkiLifetimes {
  std::chrono::seconds ca{std::chrono::hours(24 * 365 * 10)};
  std::chrono::seconds cert{std::chrono::hours(24 * 365)};
};
// A new serving certificate (EC P-256) signed by the first CA of `keep_ca` (when given and its CA is not to be
// renewed), else by a new CA that is published together with keep_ca's still-valid CAs.
Pki issue_pki(const std::vector<std::string>& dns_names, Clock::time_point now, const PkiLifetimes& lifetimes,
              const Pki* keep_ca);

// First 12 hex digits of the SHA-256 of a certificate's DER: for logs.
std::string cert_fingerprint(const std::string& cert_pem);

struct CertRotationOptions {
  std::string ns{kDefaultNamespace};
  std::string secret_name{kDefaultCertSecretName};
  std::string service_name{kDefaultServiceName};
  std::string webhook_config_name{kDefaultWebhookConfigName};
  std::string cert_dir = "/certs";
  PkiLifetimes lifetimes;
  std::chrono::milliseconds check_interval{60'000};  // re-read the Secret and the webhook configuration
  std::chrono::milliseconds min_backoff{500}, max_backoff{30'000};
  int conflict_retries = 5;  // per object and pass
};

class CertRotator {
 public:
  CertRotator(kube::ApiClient& api, CertRotationOptions options, Clock& clock);
  ~CertRotator();
  CertRotator(const CertRotator&) = delete;
  CertRotator& operator=(const CertRotator&) = delete;

  // A background thread: reconcile at once, then every check_interval (after failures sooner, with backoff).
  void start();
  void stop();
  // nullopt once the Secret, the certificate directory and the caBundle have all been brought up to date once
  // (later failures are retried but do not make the webhook unready while its certificate is still valid).
  std::optional<std::string> unready_reason() const;
  // One pass: Secret, then caBundle, then certificate directory. Returns "" or what failed.
  std::string reconcile();

  struct Impl;

 private:
  void run();
  std::unique_ptr<Impl> impl_;
  CertRotationOptions options_;
  Clock& clock_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  bool provisioned_ = false;
  std::string error_ = "certificate rotation has not run yet";
  Clock::time_point served_not_after_{};
  std::thread thread_;
};

}  // namespace azwi::webhook
