#include "emulator/certs.hpp"

#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <ctime>
#include <memory>
#include <set>
#include <stdexcept>

#include "emulator/files.hpp"
#include "jwt/key.hpp"

namespace azwi::emulator {
namespace fs = std::filesystem;
namespace {

using X509Ptr = std::unique_ptr<X509, decltype(&X509_free)>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

constexpr long kDay = 24 * 3600;
constexpr long kCaValidity = 10 * 365 * kDay;
constexpr long kServerValidity = 365 * kDay;
constexpr long kRenewBefore = 30 * kDay;

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what + ": " + jwt::openssl_error()); }

PkeyPtr new_key() {
  EVP_PKEY* p = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  if (!p) fail("cannot generate a TLS key");
  return PkeyPtr(p, EVP_PKEY_free);
}

std::string key_pem(EVP_PKEY* key) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  if (PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) fail("cannot write key");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

std::string cert_pem(X509* cert) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  if (PEM_write_bio_X509(bio.get(), cert) != 1) fail("cannot write certificate");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

X509Ptr load_cert(const fs::path& path) {
  auto text = read_file(path);
  if (!text) return X509Ptr(nullptr, X509_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(text->data(), static_cast<int>(text->size())), BIO_free);
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), X509_free);
}

PkeyPtr load_key(const fs::path& path) {
  auto text = read_file(path);
  if (!text) return PkeyPtr(nullptr, EVP_PKEY_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(text->data(), static_cast<int>(text->size())), BIO_free);
  return PkeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
}

void add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) fail("cannot build certificate extension " + value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

X509Ptr new_cert(EVP_PKEY* key, const std::string& cn, long validity) {
  X509Ptr cert(X509_new(), X509_free);
  X509_set_version(cert.get(), X509_VERSION_3);
  std::unique_ptr<BIGNUM, decltype(&BN_free)> serial(BN_new(), BN_free);
  BN_rand(serial.get(), 120, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY);
  BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get()));
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);  // tolerate clients whose clock is a little behind
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), validity);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("azwi-emulator"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  return cert;
}

std::string normalize_san(const std::string& raw) {
  if (raw.starts_with("IP:") || raw.starts_with("DNS:")) return raw;
  unsigned char buf[16];
  if (inet_pton(AF_INET, raw.c_str(), buf) == 1 || inet_pton(AF_INET6, raw.c_str(), buf) == 1) return "IP:" + raw;
  return "DNS:" + raw;
}

bool expires_within(X509* cert, long seconds) {
  std::time_t limit = std::time(nullptr) + seconds;
  return X509_cmp_time(X509_get0_notAfter(cert), &limit) <= 0;
}

}  // namespace

TlsFiles ensure_tls(const fs::path& dir, const std::vector<std::string>& sans, bool loopback) {
  TlsFiles f{dir / "ca.crt", dir / "ca.key", dir / "server.crt", dir / "server.key"};
  FileLock lock(dir / ".tls.lock");

  X509Ptr ca = load_cert(f.ca_cert);
  PkeyPtr ca_key = load_key(f.ca_key);
  if (!ca || !ca_key) {
    if (fs::exists(f.ca_cert) || fs::exists(f.ca_key))
      throw std::runtime_error("CA files " + f.ca_cert.string() + " / " + f.ca_key.string() +
                               " exist but cannot be read; remove both to create a new CA");
    ca_key = new_key();
    ca = new_cert(ca_key.get(), "azwi-emulator local CA", kCaValidity);
    X509_set_issuer_name(ca.get(), X509_get_subject_name(ca.get()));
    add_ext(ca.get(), ca.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
    add_ext(ca.get(), ca.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
    add_ext(ca.get(), ca.get(), NID_subject_key_identifier, "hash");
    if (X509_sign(ca.get(), ca_key.get(), EVP_sha256()) <= 0) fail("cannot sign the CA certificate");
    write_file_atomically(f.ca_key, key_pem(ca_key.get()), 0600);
    write_file_atomically(f.ca_cert, cert_pem(ca.get()), 0644);
    f.ca_created = true;
  }

  std::set<std::string> wanted;
  if (loopback) wanted = {"IP:127.0.0.1", "IP:::1", "DNS:localhost"};
  for (const auto& s : sans)
    if (!s.empty()) wanted.insert(normalize_san(s));
  std::string san_text;
  for (const auto& s : wanted) san_text += (san_text.empty() ? "" : ",") + s;

  // The names a serving certificate was issued for are kept beside it, so a restart with the same --san reuses it.
  fs::path san_file = dir / "server.sans";
  X509Ptr server = load_cert(f.server_cert);
  PkeyPtr server_key = load_key(f.server_key);
  auto issued_for = read_file(san_file);
  bool reuse = server && server_key && !f.ca_created && issued_for && *issued_for == san_text &&
               X509_verify(server.get(), X509_get0_pubkey(ca.get())) == 1 &&
               X509_check_private_key(server.get(), server_key.get()) == 1 && !expires_within(server.get(), kRenewBefore);
  jwt::openssl_error();  // a failed check above leaves errors queued
  if (reuse) return f;

  server_key = new_key();
  server = new_cert(server_key.get(), "azwi-emulator", kServerValidity);
  X509_set_issuer_name(server.get(), X509_get_subject_name(ca.get()));
  add_ext(server.get(), ca.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_ext(server.get(), ca.get(), NID_key_usage, "critical,digitalSignature,keyEncipherment");
  add_ext(server.get(), ca.get(), NID_ext_key_usage, "serverAuth");
  add_ext(server.get(), ca.get(), NID_subject_alt_name, san_text);
  add_ext(server.get(), ca.get(), NID_subject_key_identifier, "hash");
  add_ext(server.get(), ca.get(), NID_authority_key_identifier, "keyid:always");
  if (X509_sign(server.get(), ca_key.get(), EVP_sha256()) <= 0) fail("cannot sign the serving certificate");
  write_file_atomically(f.server_key, key_pem(server_key.get()), 0600);
  write_file_atomically(f.server_cert, cert_pem(server.get()), 0644);
  write_file_atomically(san_file, san_text, 0644);
  f.server_issued = true;
  return f;
}

}  // namespace azwi::emulator
