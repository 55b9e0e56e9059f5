#include "certs/openssl.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>

namespace azwi::certs {

void Free::operator()(X509* p) const { X509_free(p); }
void Free::operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
void Free::operator()(BIO* p) const { BIO_free(p); }
void Free::operator()(X509_STORE* p) const { X509_STORE_free(p); }
void Free::operator()(X509_STORE_CTX* p) const { X509_STORE_CTX_free(p); }
void Free::operator()(BIGNUM* p) const { BN_free(p); }
void Free::operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }

void fail(std::string_view what) {
  std::string reasons;
  while (unsigned long e = ERR_get_error()) {
    char text[256];
    ERR_error_string_n(e, text, sizeof text);
    reasons += (reasons.empty() ? "" : "; ") + std::string(text);
  }
  throw Error("cannot " + std::string(what) + ": " + (reasons.empty() ? "OpenSSL gave no reason" : reasons));
}

namespace {
BioPtr read_bio(std::string_view pem) {
  return BioPtr(check_ptr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), "read PEM text"));
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  if (n < 0 || (n > 0 && !data)) fail("read the PEM text written");
  return std::string(data, static_cast<std::size_t>(n));
}
}  // namespace

std::vector<X509Ptr> read_certs(std::string_view pem) {
  std::vector<X509Ptr> out;
  auto bio = read_bio(pem);
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(x);
  ERR_clear_error();  // the read that ends the loop always fails ("no start line")
  return out;
}

KeyPtr read_key(std::string_view pem) {
  auto bio = read_bio(pem);
  KeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  return key;
}

std::string pem_of(X509* cert) {
  BioPtr bio(check_ptr(BIO_new(BIO_s_mem()), "allocate a memory BIO"));
  check(PEM_write_bio_X509(bio.get(), cert), "write a certificate as PEM");
  return bio_text(bio.get());
}

std::string pem_of(EVP_PKEY* key) {
  BioPtr bio(check_ptr(BIO_new(BIO_s_mem()), "allocate a memory BIO"));
  check(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr), "write a key as PEM");
  return bio_text(bio.get());
}

Clock::time_point time_of(const ASN1_TIME* t) {
  std::tm tm{};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) {
    ERR_clear_error();
    return {};
  }
  return Clock::time_point(std::chrono::seconds(timegm(&tm)));
}

Clock::time_point not_before(X509* cert) { return time_of(X509_get0_notBefore(cert)); }
Clock::time_point not_after(X509* cert) { return time_of(X509_get0_notAfter(cert)); }

}  // namespace azwi::certs
