#include "webhook/cert_rotation.hpp"

#include <stdexcept>

#include "common/files.hpp"
#include "common/log.hpp"
#include "kube/client.hpp"
#include "kube/objects.hpp"

namespace azwi::webhook {

using namespace std::chrono;

SecretDecision decide_secret(const SecretState& state) {
  if (!state.found) return {SecretAction::create, true, "no certificate secret yet"};
  if (state.check.usable) return {SecretAction::adopt, false, ""};
  return {SecretAction::renew, state.check.renew_ca, state.check.reason};
}

namespace {

certs::Pki pki_of(const kube::Secret& secret) {
  auto get = [&](std::string_view key) { return secret.data(key).value_or(""); };
  return {get(kCaCertKey), get(kCaKeyKey), get(kCertKey), get(kKeyKey)};
}

std::vector<std::pair<std::string, std::string>> data_of(const certs::Pki& p) {
  return {{std::string(kCaCertKey), p.ca_cert},
          {std::string(kCaKeyKey), p.ca_key},
          {std::string(kCertKey), p.cert},
          {std::string(kKeyKey), p.key}};
}

// "cannot <verb> <what>: HTTP 403: ..." and, for a Forbidden, where the grant is missing.
template <class T>
std::string failure(std::string_view verb, const std::string& what, const kube::ApiResult<T>& r) {
  std::string text = "cannot " + std::string(verb) + " " + what + ": " + r.error;
  if (r.outcome == kube::Outcome::forbidden)
    text += " (the webhook's service account is not granted " + std::string(verb) +
            "; see the Role and ClusterRole of the chart)";
  return text;
}

}  // namespace

// The steps of a pass, each one request or one local write; reconcile() strings them together.
struct CertRotator::Impl {
  Impl(kube::ApiClient& api, const CertRotationOptions& o, Clock& c)
      : objects(api),
        options(o),
        clock(c),
        dns(certs::serving_dns_names(o.service_name, o.ns)),
        secret_where("Secret " + o.ns + "/" + o.secret_name),
        config_where("MutatingWebhookConfiguration " + o.webhook_config_name) {}

  struct ReadState {
    std::string error;  // set: the read failed
    kube::Secret secret;
    certs::Pki pki;
    SecretState state;
  };
  enum class Written { done, conflict, failed };
  struct WriteResult {
    Written status = Written::failed;
    std::string error;
  };

  // Read state: the Secret and the check of its pair at `now`.
  ReadState read_secret(Clock::time_point now) {
    ReadState out;
    auto got = objects.get_secret(options.ns, options.secret_name);
    if (got.outcome == kube::Outcome::not_found) return out;
    if (!got.ok()) {
      out.error = failure("read", secret_where, got);
      return out;
    }
    out.secret = std::move(got.object);
    out.pki = pki_of(out.secret);
    out.state = {true, certs::check_pki(out.pki, dns, now)};
    return out;
  }

  // Write secret: create it, or update the one read (its resourceVersion makes a concurrent write a Conflict).
  WriteResult write_secret(const ReadState& read, const SecretDecision& decision, const certs::Pki& fresh) {
    bool create = decision.action == SecretAction::create;
    kube::Secret secret = create ? kube::Secret::make(options.ns, options.secret_name) : read.secret;
    if (create) secret.set_label("app.kubernetes.io/managed-by", "azwi-webhook");
    secret.set_data(data_of(fresh));
    auto written = create ? objects.create_secret(secret) : objects.update_secret(secret);
    if (written.outcome == kube::Outcome::conflict) {
      log.info(create ? "the certificate secret was created by another writer meanwhile (409); reading it"
                      : "the certificate secret changed meanwhile (409 Conflict); reading it again",
               {{"secret", secret_where}, {"detail", written.error}});
      return {Written::conflict, {}};
    }
    if (!written.ok()) return {Written::failed, failure(create ? "create" : "update", secret_where, written)};
    if (create)
      log.info("created the certificate secret", {{"secret", secret_where}, {"ca", certs::cert_fingerprint(fresh.ca_cert)},
                                                  {"cert", certs::cert_fingerprint(fresh.cert)}});
    else
      log.info("renewed the certificates in the secret",
               {{"secret", secret_where}, {"reason", decision.reason}, {"ca", certs::cert_fingerprint(fresh.ca_cert)},
                {"cert", certs::cert_fingerprint(fresh.cert)}, {"new_ca", decision.new_ca}});
    return {Written::done, {}};
  }

  // Read, decide and write until the Secret holds a servable pair; a conflict starts again from a fresh read.
  std::string settle_secret(certs::Pki& pki) {
    for (int attempt = 0; attempt <= options.conflict_retries; ++attempt) {
      auto now = clock.now();
      ReadState read = read_secret(now);
      if (!read.error.empty()) return read.error;
      SecretDecision decision = decide_secret(read.state);
      if (decision.action == SecretAction::adopt) {
        pki = std::move(read.pki);
        return {};
      }
      certs::Pki fresh;
      try {
        fresh = certs::issue_pki(dns, now, options.pki,
                                 decision.action == SecretAction::renew ? &read.pki : nullptr);
      } catch (const certs::Error& e) {
        return e.what();
      }
      WriteResult w = write_secret(read, decision, fresh);
      if (w.status == Written::failed) return w.error;
      if (w.status == Written::done) {
        pki = std::move(fresh);
        return {};
      }
    }
    return secret_where + " kept changing: gave up after " + std::to_string(options.conflict_retries + 1) +
           " conflicting writes";
  }

  // Update caBundle: every webhook of the configuration trusts the Secret's CA bundle, before the new certificate is
  // served, so the API server already trusts it.
  std::string update_ca_bundle(const certs::Pki& pki) {
    for (int attempt = 0; attempt <= options.conflict_retries; ++attempt) {
      auto got = objects.get_mutating_webhook_configuration(options.webhook_config_name);
      if (!got.ok()) return failure("read", config_where, got);
      auto& config = got.object;
      if (config.webhook_count() == 0) return config_where + " has no webhooks";
      int changed = config.set_ca_bundle(pki.ca_cert);
      if (changed == 0) return {};
      auto updated = objects.update_mutating_webhook_configuration(config);
      if (updated.outcome == kube::Outcome::conflict) {
        log.info("the webhook configuration changed meanwhile (409 Conflict); reading it again",
                 {{"webhook_configuration", options.webhook_config_name}, {"detail", updated.error}});
        continue;
      }
      if (!updated.ok()) return failure("update the caBundle of", config_where, updated);
      log.info("updated the caBundle", {{"webhook_configuration", options.webhook_config_name},
                                        {"webhooks", changed}, {"ca", certs::cert_fingerprint(pki.ca_cert)}});
      return {};
    }
    return config_where + " kept changing: gave up after " + std::to_string(options.conflict_retries + 1) +
           " conflicting writes";
  }

  // Write files: the certificate directory the TLS server reloads from. Key, certificate and CA switch together
  // (common/files), so the server never loads a new certificate with the old key; the key is 0600 from its first
  // byte.
  std::string write_files(const certs::Pki& pki, Clock::time_point not_after) {
    try {
      bool changed = write_files_together(options.cert_dir, {{std::string(kCaCertKey), pki.ca_cert, 0644},
                                                             {std::string(kKeyKey), pki.key, 0600},
                                                             {std::string(kCertKey), pki.cert, 0644}});
      if (changed)
        log.info("serving certificate written", {{"dir", options.cert_dir}, {"cert", certs::cert_fingerprint(pki.cert)},
                                                 {"not_after", utc_text(not_after)}});
    } catch (const std::exception& e) {
      return e.what();
    }
    return {};
  }

  kube::ObjectClient objects;
  const CertRotationOptions& options;
  Clock& clock;
  const std::vector<std::string> dns;
  const std::string secret_where, config_where;
  log::Logger log{"cert-rotation"};
  std::mutex reconcile_mutex;  // one pass at a time (the thread, or a test calling reconcile)
};

CertRotator::CertRotator(kube::ApiClient& api, CertRotationOptions options, Clock& clock)
    : options_(std::move(options)), clock_(clock) {
  impl_ = std::make_unique<Impl>(api, options_, clock_);
}

CertRotator::~CertRotator() { stop(); }

void CertRotator::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { run(); });
}

void CertRotator::stop() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::optional<std::string> CertRotator::unready_reason() const {
  std::lock_guard lock(mutex_);
  if (!provisioned_) return "serving certificate not provisioned yet: " + error_;
  if (clock_.now() >= served_not_after_)
    return "the serving certificate expired at " + utc_text(served_not_after_) + " and could not be renewed: " +
           error_;
  return std::nullopt;
}

void CertRotator::run() {
  auto backoff = options_.min_backoff;
  while (true) {
    std::string error = reconcile();
    milliseconds wait = options_.check_interval;
    if (!error.empty()) {
      wait = backoff;
      backoff = std::min(backoff * 2, options_.max_backoff);
    } else {
      backoff = options_.min_backoff;
    }
    std::unique_lock lock(mutex_);
    if (wake_.wait_for(lock, wait, [this] { return stop_; })) return;
  }
}

std::string CertRotator::reconcile() {
  std::lock_guard pass(impl_->reconcile_mutex);
  certs::Pki pki;
  std::string error = impl_->settle_secret(pki);
  if (error.empty()) error = impl_->update_ca_bundle(pki);
  auto not_after = certs::cert_not_after(pki.cert).value_or(Clock::time_point{});
  if (error.empty()) error = impl_->write_files(pki, not_after);
  std::lock_guard lock(mutex_);
  if (!error.empty()) {
    impl_->log.warn("certificate rotation failed; retrying", {{"reason", error}});
    error_ = error;
    return error;
  }
  provisioned_ = true;
  error_.clear();
  served_not_after_ = not_after;
  return {};
}

}  // namespace azwi::webhook
