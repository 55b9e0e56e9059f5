#include "http/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <stdexcept>
#include <system_error>

#include "common/files.hpp"

namespace azwi::http {
namespace asio = boost::asio;

std::optional<TlsVersion> parse_tls_version(std::string_view s) {
  if (s == "1.2" || s == "VersionTLS12") return TlsVersion::v1_2;
  if (s == "1.3" || s == "VersionTLS13") return TlsVersion::v1_3;
  return std::nullopt;
}

std::shared_ptr<asio::ssl::context> make_server_tls_context(const std::string& cert_file, const std::string& key_file,
                                                            TlsVersion min_version) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX* raw = ctx->native_handle();
  SSL_CTX_set_min_proto_version(raw, min_version == TlsVersion::v1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_options(raw, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  auto fail = [](const std::string& what, const std::string& file) {
    unsigned long e = ERR_get_error();
    char reason[256] = "unknown error";
    if (e) ERR_error_string_n(e, reason, sizeof reason);
    ERR_clear_error();
    throw std::runtime_error("cannot load " + what + " from " + file + ": " + reason);
  };
  if (SSL_CTX_use_certificate_chain_file(raw, cert_file.c_str()) != 1) fail("certificate chain", cert_file);
  if (SSL_CTX_use_PrivateKey_file(raw, key_file.c_str(), SSL_FILETYPE_PEM) != 1) fail("private key", key_file);
  if (SSL_CTX_check_private_key(raw) != 1) fail("a private key matching the certificate", key_file);
  return ctx;
}

ReloadingTlsProvider::ReloadingTlsProvider(std::string cert_file, std::string key_file, TlsVersion min_version,
                                           std::chrono::milliseconds check_interval)
    : cert_file_(std::move(cert_file)), key_file_(std::move(key_file)), min_version_(min_version),
      check_interval_(check_interval) {}

std::shared_ptr<asio::ssl::context> ReloadingTlsProvider::current() {
  std::lock_guard lock(mutex_);
  auto now = std::chrono::steady_clock::now();
  if (ctx_ && now < next_check_) return ctx_;
  next_check_ = now + check_interval_;
  std::error_code ec1, ec2;
  namespace fs = std::filesystem;
  // Links are followed first and the files read where they lead: in a directory whose files are switched together
  // (a Secret volume's ..data, or the webhook's own rotation) both then come from one generation, unless the switch
  // fell between the two lookups, and then the pair does not match, is refused and read again at the next check.
  auto cert = fs::canonical(cert_file_, ec1);
  auto key = fs::canonical(key_file_, ec2);
  std::optional<FileStamp> cert_stamp, key_stamp;
  if (!ec1 && !ec2) {
    cert_stamp = file_stamp(cert);
    key_stamp = file_stamp(key);
  }
  if (!cert_stamp || !key_stamp) {
    error_ = "certificate files " + cert_file_ + " / " + key_file_ + " are not readable";
    return ctx_;
  }
  std::pair stamp{*cert_stamp, *key_stamp};
  if (ctx_ && stamp == stamp_) return ctx_;
  try {
    ctx_ = make_server_tls_context(cert.string(), key.string(), min_version_);
    stamp_ = stamp;
    error_.clear();
  } catch (const std::exception& e) {
    error_ = e.what();
  }
  return ctx_;
}

std::string ReloadingTlsProvider::last_error() const {
  std::lock_guard lock(mutex_);
  return error_;
}

TlsContextProvider ReloadingTlsProvider::provider() {
  return [this] { return current(); };
}

}  // namespace azwi::http
