#include "certs/pki.hpp"

#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace azwi::certs {

using namespace std::chrono;

namespace {

// Renewal is due once less than a third of the certificate's own lifetime is left.
// "" while it is not; else why, for `what` ("the CA").
std::string renewal_due(X509* x, std::string_view what, Clock::time_point now) {
  auto nb = not_before(x), na = not_after(x);
  if (now < na - (na - nb) / 3) return {};
  return std::string(what) + " expires at " + utc_text(na) + " (renewal due)";
}

bool is_ip_address(const std::string& name) {
  unsigned char addr[16];
  return inet_pton(AF_INET, name.c_str(), addr) == 1 || inet_pton(AF_INET6, name.c_str(), addr) == 1;
}

KeyPtr new_key() { return KeyPtr(check_ptr(EVP_EC_gen("P-256"), "generate an EC P-256 key")); }

void add_ext(X509* subject, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, subject, nullptr, nullptr, 0);
  std::string what = std::string("make the certificate extension ") + OBJ_nid2sn(nid) + " (" + value + ")";
  std::unique_ptr<X509_EXTENSION, Free> ext(check_ptr(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()), what));
  check(X509_add_ext(subject, ext.get(), -1), "add the certificate extension " + std::string(OBJ_nid2sn(nid)));
}

void set_time(ASN1_TIME* field, Clock::time_point t, std::string_view what) {
  check_ptr(ASN1_TIME_set(field, system_clock::to_time_t(t)), "set the certificate's " + std::string(what));
}

// issuer/issuer_key null: self-signed with `key`.
X509Ptr make_cert(const std::string& cn, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key, Clock::time_point nb,
                  Clock::time_point na, bool ca, const std::vector<std::string>& names) {
  X509Ptr x(check_ptr(X509_new(), "allocate a certificate"));
  check(X509_set_version(x.get(), X509_VERSION_3), "set the certificate version");
  std::unique_ptr<BIGNUM, Free> serial(check_ptr(BN_new(), "allocate a serial number"));
  check(BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY), "draw a serial number");
  check_ptr(BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(x.get())), "set the serial number");
  set_time(X509_getm_notBefore(x.get()), nb, "notBefore");
  set_time(X509_getm_notAfter(x.get()), na, "notAfter");
  X509_NAME* name = X509_get_subject_name(x.get());
  // A CN holds at most 64 characters (the service's full DNS name is often longer); the names are in the SAN.
  std::string short_cn = cn.substr(0, 64);
  check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(short_cn.c_str()),
                                   -1, -1, 0),
        "set the certificate's common name");
  check(X509_set_issuer_name(x.get(), issuer ? X509_get_subject_name(issuer) : name), "set the issuer name");
  check(X509_set_pubkey(x.get(), key), "set the certificate's public key");
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
    for (const auto& n : names) {
      if (!san.empty()) san += ',';
      san += san_entry(n);
    }
    add_ext(x.get(), iss, NID_subject_alt_name, san);
  }
  // X509_sign returns the signature's length.
  if (X509_sign(x.get(), issuer_key ? issuer_key : key, EVP_sha256()) <= 0) fail("sign the certificate");
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
  if (X509_check_private_key(ca, ca_key) != 1) {
    ERR_clear_error();
    return {false, "the CA key does not belong to the CA certificate"};
  }
  CaState s;
  s.not_after = not_after(ca);
  s.reason = renewal_due(ca, "the CA", now);
  s.usable = s.reason.empty();
  return s;
}

// Whether `leaf` chains to `ca` at `now`; "" or OpenSSL's reason.
std::string verify_chain(X509* leaf, X509* ca, Clock::time_point now) {
  std::unique_ptr<X509_STORE, Free> store(check_ptr(X509_STORE_new(), "allocate a certificate store"));
  check(X509_STORE_add_cert(store.get(), ca), "add the CA to a certificate store");
  std::unique_ptr<X509_STORE_CTX, Free> ctx(check_ptr(X509_STORE_CTX_new(), "allocate a verification context"));
  check(X509_STORE_CTX_init(ctx.get(), store.get(), leaf, nullptr), "start a certificate verification");
  X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx.get()), system_clock::to_time_t(now));
  if (X509_verify_cert(ctx.get()) == 1) return {};
  ERR_clear_error();
  return X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
}

}  // namespace

std::string san_entry(std::string_view name) {
  std::string n(name);
  return (is_ip_address(n) ? "IP:" : "DNS:") + n;
}

std::vector<std::string> serving_dns_names(std::string_view service, std::string_view ns) {
  std::string s(service), n(ns);
  return {s, s + "." + n, s + "." + n + ".svc", s + "." + n + ".svc.cluster.local"};
}

PkiCheck check_pki(const Pki& pki, const std::vector<std::string>& names, Clock::time_point now) {
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
    ERR_clear_error();
    out.reason = "the serving key does not belong to the serving certificate";
    return out;
  }
  if (auto why = verify_chain(leaf, cas.front().get(), now); !why.empty()) {
    out.reason = "the serving certificate does not verify against the CA: " + why;
    return out;
  }
  for (const auto& name : names) {
    int named = is_ip_address(name) ? X509_check_ip_asc(leaf, name.c_str(), 0)
                                    : X509_check_host(leaf, name.data(), name.size(), 0, nullptr);
    if (named != 1) {
      ERR_clear_error();
      out.reason = "the serving certificate does not name " + name;
      return out;
    }
  }
  out.cert_not_after = not_after(leaf);
  out.reason = renewal_due(leaf, "the serving certificate", now);
  out.usable = out.reason.empty();
  return out;
}

Pki issue_pki(const std::vector<std::string>& names, Clock::time_point now, const PkiProfile& profile,
              const Pki* keep_ca) {
  if (names.empty()) throw Error("cannot issue a serving certificate without a name");
  for (const auto& name : names)
    if (name.empty() || name.find_first_of(", \t\r\n") != std::string::npos)
      throw Error("cannot issue a serving certificate for the name \"" + name + "\"");
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
    X509Ptr ca = make_cert(profile.ca_name, key.get(), nullptr, nullptr, nb, now + profile.ca, true, {});
    out.ca_cert = pem_of(ca.get());
    // Earlier CAs stay published until they expire: certificates they signed may still be served.
    for (auto& old : cas)
      if (not_after(old.get()) > now && X509_check_ca(old.get())) out.ca_cert += pem_of(old.get());
    cas.clear();
    cas.push_back(std::move(ca));
    ca_key = std::move(key);
  } else {
    for (auto& c : cas)  // drop expired earlier CAs
      if (not_after(c.get()) > now) out.ca_cert += pem_of(c.get());
  }
  out.ca_key = pem_of(ca_key.get());
  auto na = std::min(now + duration_cast<Clock::duration>(profile.cert), not_after(cas.front().get()));
  KeyPtr key = new_key();
  X509Ptr leaf = make_cert(names.front(), key.get(), cas.front().get(), ca_key.get(), nb, na, false, names);
  out.cert = pem_of(leaf.get());
  out.key = pem_of(key.get());
  return out;
}

std::string cert_fingerprint(std::string_view cert_pem) {
  auto certs = read_certs(cert_pem);
  if (certs.empty()) return "none";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  if (X509_digest(certs.front().get(), EVP_sha256(), md, &n) != 1) {
    ERR_clear_error();
    return "unknown";
  }
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < 6 && i < n; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

std::optional<Clock::time_point> cert_not_after(std::string_view cert_pem) {
  auto certs = read_certs(cert_pem);
  if (certs.empty()) return std::nullopt;
  return not_after(certs.front().get());
}

}  // namespace azwi::certs
