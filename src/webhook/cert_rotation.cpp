#include "webhook/cert_rotation.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <stdexcept>

#include "common/files.hpp"
#include "common/log.hpp"
#include "kube/client.hpp"
#include "webhook/admission.hpp"

namespace azwi::webhook {

namespace json = boost::json;
using namespace std::chrono;

namespace {

// ---------------------------------------------------------------- OpenSSL helpers

struct Free {
  void operator()(X509* p) const { X509_free(p); }
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(X509_STORE* p) const { X509_STORE_free(p); }
  void operator()(X509_STORE_CTX* p) const { X509_STORE_CTX_free(p); }
  void operator()(BIGNUM* p) const { BN_free(p); }
  void operator()(X509_NAME* p) const { X509_NAME_free(p); }
};
using X509Ptr = std::unique_ptr<X509, Free>;
using KeyPtr = std::unique_ptr<EVP_PKEY, Free>;
using BioPtr = std::unique_ptr<BIO, Free>;

std::vector<X509Ptr> read_certs(const std::string& pem) {
  std::vector<X509Ptr> out;
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(x);
  return out;
}

KeyPtr read_key(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return KeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(n));
}

std::string pem_of(X509* x) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), x);
  return bio_text(bio.get());
}

std::string pem_of(EVP_PKEY* k) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), k, nullptr, nullptr, 0, nullptr, nullptr);
  return bio_text(bio.get());
}

Clock::time_point time_of(const ASN1_TIME* t) {
  std::tm tm{};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return {};
  return Clock::time_point(seconds(timegm(&tm)));
}

std::string iso(Clock::time_point t) {
  std::time_t s = system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char b[32];
  std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return b;
}

// Renewal is due once less than a third of the certificate's own lifetime is left.
Clock::time_point renewal_due(X509* x) {
  auto nb = time_of(X509_get0_notBefore(x)), na = time_of(X509_get0_notAfter(x));
  return na - (na - nb) / 3;
}

KeyPtr new_key() {
  KeyPtr k(EVP_EC_gen("P-256"));
  if (!k) throw std::runtime_error("cannot generate an EC P-256 key");
  return k;
}

void add_ext(X509* subject, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, subject, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (!ext) throw std::runtime_error(std::string("cannot make certificate extension ") + OBJ_nid2sn(nid));
  X509_add_ext(subject, ext, -1);
  X509_EXTENSION_free(ext);
}

// issuer/issuer_key null: self-signed with `key`.
X509Ptr make_cert(const std::string& cn, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key, Clock::time_point nb,
                  Clock::time_point na, bool ca, const std::vector<std::string>& dns) {
  X509Ptr x(X509_new());
  X509_set_version(x.get(), 2);
  std::unique_ptr<BIGNUM, Free> serial(BN_new());
  BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY);
  BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(x.get()));
  ASN1_TIME_set(X509_getm_notBefore(x.get()), system_clock::to_time_t(nb));
  ASN1_TIME_set(X509_getm_notAfter(x.get()), system_clock::to_time_t(na));
  X509_NAME* name = X509_get_subject_name(x.get());
  // A CN holds at most 64 characters (the service's full DNS name is often longer); the names are in the SAN.
  std::string short_cn = cn.substr(0, 64);
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(short_cn.c_str()),
                                 -1, -1, 0) != 1)
    throw std::runtime_error("cannot set the certificate's common name");
  X509_set_issuer_name(x.get(), issuer ? X509_get_subject_name(issuer) : name);
  X509_set_pubkey(x.get(), key);
  X509* iss = issuer ? issuer : x.get();
  add_ext(x.get(), iss, NID_subject_key_identifier, "hash");
  if (ca) {
    add_ext(x.get(), iss, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(x.get(), iss, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_ext(x.get(), iss, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(x.get(), iss, NID_key_usage, "critical,digitalSignature,keyEncipherment");
    add_ext(x.get(), iss, NID_ext_key_usage, "serverAuth");
    add_ext(x.get(), iss, NID_authority_key_identifier, "keyid");
    std::string san;
    for (const auto& d : dns) san += (san.empty() ? "DNS:" : ",DNS:") + d;
    add_ext(x.get(), iss, NID_subject_alt_name, san.c_str());
  }
  if (X509_sign(x.get(), issuer_key ? issuer_key : key, EVP_sha256()) == 0)
    throw std::runtime_error("cannot sign the certificate");
  return x;
}

struct CaState {
  bool usable = false;
  std::string reason;
  Clock::time_point not_after{};
};

CaState check_ca(const std::vector<X509Ptr>& cas, EVP_PKEY* ca_key, Clock::time_point now) {
  if (cas.empty()) return {false, "no CA certificate"};
  if (!ca_key) return {false, "no CA key"};
  X509* ca = cas.front().get();
  if (X509_check_ca(ca) == 0) return {false, "the CA certificate is not a CA"};
  if (X509_check_private_key(ca, ca_key) != 1) return {false, "the CA key does not belong to the CA certificate"};
  CaState s;
  s.not_after = time_of(X509_get0_notAfter(ca));
  if (now >= renewal_due(ca)) {
    s.reason = "the CA expires at " + iso(s.not_after) + " (renewal due)";
    return s;
  }
  s.usable = true;
  return s;
}

// ---------------------------------------------------------------- base64 (the Secret's data)

std::optional<std::string> base64_decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  unsigned buf = 0;
  int bits = 0;
  std::size_t i = 0;
  for (; i < in.size() && in[i] != '='; ++i) {
    int v = value(in[i]);
    if (v < 0) return std::nullopt;
    buf = (buf << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buf >> bits) & 0xff));
    }
  }
  for (; i < in.size(); ++i)
    if (in[i] != '=') return std::nullopt;
  return out;
}

std::string status_text(long status, const std::string& body) {
  std::string text = "HTTP " + std::to_string(status);
  boost::system::error_code ec;
  auto v = json::parse(body, ec);
  if (!ec && v.is_object())
    if (auto* m = v.get_object().if_contains("message"); m && m->is_string())
      return text + ": " + std::string(m->get_string());
  return text;
}

}  // namespace

// ---------------------------------------------------------------- public PKI functions

std::vector<std::string> serving_dns_names(std::string_view service, std::string_view ns) {
  std::string s(service), n(ns);
  return {s, s + "." + n, s + "." + n + ".svc", s + "." + n + ".svc.cluster.local"};
}

PkiCheck check_pki(const Pki& pki, const std::vector<std::string>& dns_names, Clock::time_point now) {
  PkiCheck out;
  auto cas = read_certs(pki.ca_cert);
  auto ca_key = read_key(pki.ca_key);
  CaState ca = check_ca(cas, ca_key.get(), now);
  out.ca_not_after = ca.not_after;
  if (!ca.usable) {
    out.renew_ca = true;
    out.reason = ca.reason;
    return out;
  }
  auto leaves = read_certs(pki.cert);
  auto key = read_key(pki.key);
  if (leaves.empty() || !key) {
    out.reason = "no serving certificate or key";
    return out;
  }
  X509* leaf = leaves.front().get();
  if (X509_check_private_key(leaf, key.get()) != 1) {
    out.reason = "the serving key does not belong to the serving certificate";
    return out;
  }
  std::unique_ptr<X509_STORE, Free> store(X509_STORE_new());
  X509_STORE_add_cert(store.get(), cas.front().get());
  std::unique_ptr<X509_STORE_CTX, Free> ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), leaf, nullptr);
  X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx.get()), system_clock::to_time_t(now));
  if (X509_verify_cert(ctx.get()) != 1) {
    out.reason = std::string("the serving certificate does not verify against the CA: ") +
                 X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
    return out;
  }
  for (const auto& name : dns_names) {
    if (X509_check_host(leaf, name.data(), name.size(), 0, nullptr) != 1) {
      out.reason = "the serving certificate does not name " + name;
      return out;
    }
  }
  out.cert_not_after = time_of(X509_get0_notAfter(leaf));
  if (now >= renewal_due(leaf)) {
    out.reason = "the serving certificate expires at " + iso(out.cert_not_after) + " (renewal due)";
    return out;
  }
  out.usable = true;
  return out;
}

Pki issue_pki(const std::vector<std::string>& dns_names, Clock::time_point now, const PkiLifetimes& lifetimes,
              const Pki* keep_ca) {
  // Backdated an hour: replicas' and API servers' clocks differ a little.
  auto nb = now - hours(1);
  Pki out;
  std::vector<X509Ptr> cas;
  KeyPtr ca_key;
  if (keep_ca) {
    cas = read_certs(keep_ca->ca_cert);
    ca_key = read_key(keep_ca->ca_key);
  }
  if (!keep_ca || !check_ca(cas, ca_key.get(), now).usable) {
    KeyPtr key = new_key();
    X509Ptr ca = make_cert("azwi-webhook-ca", key.get(), nullptr, nullptr, nb, now + lifetimes.ca, true, {});
    out.ca_cert = pem_of(ca.get());
    // Earlier CAs stay published until they expire: certificates they signed may still be served.
    for (auto& old : cas)
      if (time_of(X509_get0_notAfter(old.get())) > now && X509_check_ca(old.get())) out.ca_cert += pem_of(old.get());
    cas.clear();
    cas.push_back(std::move(ca));
    ca_key = std::move(key);
  } else {
    for (auto& c : cas)  // drop expired earlier CAs
      if (time_of(X509_get0_notAfter(c.get())) > now) out.ca_cert += pem_of(c.get());
  }
  out.ca_key = pem_of(ca_key.get());
  auto na = std::min(now + duration_cast<Clock::duration>(lifetimes.cert),
                     time_of(X509_get0_notAfter(cas.front().get())));
  KeyPtr key = new_key();
  X509Ptr leaf = make_cert(dns_names.front(), key.get(), cas.front().get(),
                           ca_key.get(), nb, na, false, dns_names);
  out.cert = pem_of(leaf.get());
  out.key = pem_of(key.get());
  return out;
}

std::string cert_fingerprint(const std::string& cert_pem) {
  auto certs = read_certs(cert_pem);
  if (certs.empty()) return "none";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  X509_digest(certs.front().get(), EVP_sha256(), md, &n);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < 6 && i < n; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

// ---------------------------------------------------------------- the rotator

struct CertRotator::Impl {
  explicit Impl(kube::ApiClient& a) : api(a) {}
  kube::ApiClient& api;
  log::Logger log{"cert-rotation"};
  std::mutex reconcile_mutex;  // one pass at a time (the thread, or a test calling reconcile)
};

namespace {

Pki pki_from_secret(const json::object& secret) {
  Pki p;
  auto* data = secret.if_contains("data");
  if (!data || !data->is_object()) return p;
  auto get = [&](std::string_view key) -> std::string {
    auto* v = data->get_object().if_contains(key);
    if (!v || !v->is_string()) return {};
    return base64_decode(std::string_view(v->get_string())).value_or("");
  };
  p.ca_cert = get(kCaCertKey);
  p.ca_key = get(kCaKeyKey);
  p.cert = get(kCertKey);
  p.key = get(kKeyKey);
  return p;
}

json::object secret_data(const Pki& p) {
  return {{kCaCertKey, base64_encode(p.ca_cert)},
          {kCaKeyKey, base64_encode(p.ca_key)},
          {kCertKey, base64_encode(p.cert)},
          {kKeyKey, base64_encode(p.key)}};
}

}  // namespace

CertRotator::CertRotator(kube::ApiClient& api, CertRotationOptions options, Clock& clock)
    : impl_(std::make_unique<Impl>(api)), options_(std::move(options)), clock_(clock) {}

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
    return "the serving certificate expired at " + iso(served_not_after_) + " and could not be renewed: " + error_;
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
  auto& log = impl_->log;
  const auto dns = serving_dns_names(options_.service_name, options_.ns);
  const std::string secret_path = "/api/v1/namespaces/" + options_.ns + "/secrets/" + options_.secret_name;
  const std::string where = "Secret " + options_.ns + "/" + options_.secret_name;
  auto fail = [&](std::string e) {
    log.warn("certificate rotation failed; retrying", {{"reason", e}});
    std::lock_guard lock(mutex_);
    error_ = e;
    return e;
  };

  // 1. The Secret: adopt it when usable, else replace it; a conflict means another replica wrote first.
  std::optional<Pki> pki;
  for (int attempt = 0; attempt <= options_.conflict_retries && !pki; ++attempt) {
    auto now = clock_.now();
    auto got = impl_->api.request("GET", secret_path);
    if (!got.error.empty()) return fail(got.error);
    if (got.status == 404) {
      Pki fresh = issue_pki(dns, now, options_.lifetimes, nullptr);
      json::object secret{{"apiVersion", "v1"},
                          {"kind", "Secret"},
                          {"type", "Opaque"},
                          {"metadata",
                           {{"name", options_.secret_name},
                            {"namespace", options_.ns},
                            {"labels", {{"app.kubernetes.io/managed-by", "azwi-webhook"}}}}},
                          {"data", secret_data(fresh)}};
      auto created = impl_->api.request("POST", "/api/v1/namespaces/" + options_.ns + "/secrets", json::serialize(secret));
      if (!created.error.empty()) return fail(created.error);
      if (created.status == 409) continue;  // another replica created it a moment ago: read theirs
      if (created.status != 201 && created.status != 200)
        return fail("cannot create " + where + ": " + status_text(created.status, created.body));
      log.info("created the certificate secret", {{"secret", where}, {"ca", cert_fingerprint(fresh.ca_cert)},
                                                  {"cert", cert_fingerprint(fresh.cert)}});
      pki = std::move(fresh);
      break;
    }
    if (got.status != 200) return fail("cannot read " + where + ": " + status_text(got.status, got.body));
    boost::system::error_code ec;
    auto value = json::parse(got.body, ec);
    if (ec || !value.is_object()) return fail("cannot read " + where + ": the answer is not a JSON object");
    auto& secret = value.get_object();
    Pki existing = pki_from_secret(secret);
    PkiCheck check = check_pki(existing, dns, now);
    if (check.usable) {
      pki = std::move(existing);
      break;
    }
    Pki fresh = issue_pki(dns, now, options_.lifetimes, &existing);
    secret["data"] = secret_data(fresh);
    auto updated = impl_->api.request("PUT", secret_path, json::serialize(secret));  // carries the resourceVersion read
    if (!updated.error.empty()) return fail(updated.error);
    if (updated.status == 409) {
      log.info("the certificate secret changed meanwhile; reading it again", {{"secret", where}});
      continue;
    }
    if (updated.status != 200)
      return fail("cannot update " + where + ": " + status_text(updated.status, updated.body));
    log.info("renewed the certificates in the secret",
             {{"secret", where}, {"reason", check.reason}, {"ca", cert_fingerprint(fresh.ca_cert)},
              {"cert", cert_fingerprint(fresh.cert)}, {"new_ca", check.renew_ca}});
    pki = std::move(fresh);
  }
  if (!pki) return fail(where + " kept changing: gave up after " + std::to_string(options_.conflict_retries + 1) +
                        " conflicting writes");

  // 2. The caBundle, before the new certificate is served, so the API server already trusts it.
  const std::string bundle = base64_encode(pki->ca_cert);
  const std::string mwc_path =
      "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/" + options_.webhook_config_name;
  const std::string mwc_name = "MutatingWebhookConfiguration " + options_.webhook_config_name;
  bool bundle_done = false;
  for (int attempt = 0; attempt <= options_.conflict_retries && !bundle_done; ++attempt) {
    auto got = impl_->api.request("GET", mwc_path);
    if (!got.error.empty()) return fail(got.error);
    if (got.status != 200) return fail("cannot read " + mwc_name + ": " + status_text(got.status, got.body));
    boost::system::error_code ec;
    auto value = json::parse(got.body, ec);
    if (ec || !value.is_object()) return fail("cannot read " + mwc_name + ": the answer is not a JSON object");
    auto* hooks = value.get_object().if_contains("webhooks");
    if (!hooks || !hooks->is_array() || hooks->get_array().empty()) return fail(mwc_name + " has no webhooks");
    int changed = 0;
    for (auto& h : hooks->get_array()) {
      if (!h.is_object()) continue;
      auto& cc = h.get_object()["clientConfig"];
      if (!cc.is_object()) cc = json::object();
      auto* current = cc.get_object().if_contains("caBundle");
      if (current && current->is_string() && current->get_string() == bundle) continue;
      cc.get_object()["caBundle"] = bundle;
      ++changed;
    }
    if (changed == 0) {
      bundle_done = true;
      break;
    }
    auto updated = impl_->api.request("PUT", mwc_path, json::serialize(value));
    if (!updated.error.empty()) return fail(updated.error);
    if (updated.status == 409) continue;
    if (updated.status != 200)
      return fail("cannot update the caBundle of " + mwc_name + ": " + status_text(updated.status, updated.body));
    log.info("updated the caBundle", {{"webhook_configuration", options_.webhook_config_name},
                                      {"webhooks", changed}, {"ca", cert_fingerprint(pki->ca_cert)}});
    bundle_done = true;
  }
  if (!bundle_done) return fail(mwc_name + " kept changing: gave up after conflicting writes");

  // 3. The certificate directory the TLS server reloads from: key, certificate and CA switch together (common/files),
  // so the server never loads a new certificate with the old key; the key is 0600 from its first byte.
  auto leaves = read_certs(pki->cert);
  auto not_after = leaves.empty() ? Clock::time_point{} : time_of(X509_get0_notAfter(leaves.front().get()));
  try {
    bool changed = write_files_together(options_.cert_dir, {{std::string(kCaCertKey), pki->ca_cert, 0644},
                                                            {std::string(kKeyKey), pki->key, 0600},
                                                            {std::string(kCertKey), pki->cert, 0644}});
    if (changed)
      log.info("serving certificate written", {{"dir", options_.cert_dir}, {"cert", cert_fingerprint(pki->cert)},
                                               {"not_after", iso(not_after)}});
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  std::lock_guard lock(mutex_);
  provisioned_ = true;
  error_.clear();
  served_not_after_ = not_after;
  return {};
}

}  // namespace azwi::webhook
