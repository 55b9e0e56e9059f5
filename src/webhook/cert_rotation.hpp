#pragma once
// The webhook's own serving certificate (unless --disable-cert-rotation): a CA and a certificate for
// <service>.<namespace>.svc (made by src/certs) kept in one Secret that every replica shares (the single source of
// truth: whoever writes first wins, the others adopt its content after a 409 Conflict). Each replica copies the
// Secret's pair into its certificate directory and keeps the caBundle of the MutatingWebhookConfiguration equal to
// the Secret's CA bundle. Certificates are renewed when a third of their lifetime is left; a renewed CA is published
// next to the previous one until that expires, so the API server trusts the certificates of replicas that have not
// picked up the new pair yet.
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "certs/pki.hpp"
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

// What one pass found in the Secret: whether it exists and, when it does, the check of its pair at the pass's time.
struct SecretState {
  bool found = false;
  certs::PkiCheck check;
};
enum class SecretAction {
  adopt,   // the Secret's pair is served as it is
  create,  // no Secret: create one with a new CA and certificate
  renew,   // the pair cannot be served (much longer): replace it, keeping the CA unless new_ca
};
struct SecretDecision {
  SecretAction action = SecretAction::adopt;
  bool new_ca = false;
  std::string reason;  // why, for the log ("" when adopting)
  bool operator==(const SecretDecision&) const = default;
};
// The decision of a pass about the Secret: a pure function of what was read.
SecretDecision decide_secret(const SecretState& state);

struct CertRotationOptions {
  std::string ns{kDefaultNamespace};
  std::string secret_name{kDefaultCertSecretName};
  std::string service_name{kDefaultServiceName};
  std::string webhook_config_name{kDefaultWebhookConfigName};
  std::string cert_dir = "/certs";
  certs::PkiProfile pki;  // lifetimes and the CA's name of a PKI it issues
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
  // One pass: the Secret (read, decide, write; again after a conflict), then the caBundle, then the certificate
  // directory. Returns "" or what failed.
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
