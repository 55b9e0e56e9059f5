#pragma once
// The OpenSSL plumbing of the certs module: owning pointers, PEM in and out, and the one way a failed OpenSSL call
// becomes an exception (certs::Error, naming what could not be done and OpenSSL's own reason).
#include <openssl/types.h>
#include <openssl/x509.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"

namespace azwi::certs {

// Thrown when OpenSSL refuses a step of making or encoding keys and certificates.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Free {
  void operator()(X509* p) const;
  void operator()(EVP_PKEY* p) const;
  void operator()(BIO* p) const;
  void operator()(X509_STORE* p) const;
  void operator()(X509_STORE_CTX* p) const;
  void operator()(BIGNUM* p) const;
  void operator()(X509_EXTENSION* p) const;
};
using X509Ptr = std::unique_ptr<X509, Free>;
using KeyPtr = std::unique_ptr<EVP_PKEY, Free>;
using BioPtr = std::unique_ptr<BIO, Free>;

// Throws Error("cannot <what>: <OpenSSL's reasons>"), emptying OpenSSL's error queue.
[[noreturn]] void fail(std::string_view what);
// OpenSSL's success convention for most calls: 1.
inline void check(int rc, std::string_view what) {
  if (rc != 1) fail(what);
}
template <class T>
T* check_ptr(T* p, std::string_view what) {
  if (!p) fail(what);
  return p;
}

// Every certificate of a PEM text, in order; text that is not PEM gives none (not an error: callers judge).
std::vector<X509Ptr> read_certs(std::string_view pem);
// The private key of a PEM text, or null.
KeyPtr read_key(std::string_view pem);
std::string pem_of(X509* cert);
std::string pem_of(EVP_PKEY* key);

// A certificate's time field; the epoch when it cannot be read.
Clock::time_point time_of(const ASN1_TIME* t);
Clock::time_point not_before(X509* cert);
Clock::time_point not_after(X509* cert);

}  // namespace azwi::certs
