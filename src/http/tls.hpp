#pragma once
// Server-side TLS contexts from PEM files, and a provider that reloads them when the files change
// (cert-manager and the kubelet replace mounted certificates in place).
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "common/files.hpp"
#include "http/server.hpp"

namespace azwi::http {

enum class TlsVersion { v1_2, v1_3 };
// Accepts "1.2", "1.3", "VersionTLS12", "VersionTLS13" (the upstream's spelling); nullopt otherwise.
std::optional<TlsVersion> parse_tls_version(std::string_view);

// Throws std::runtime_error naming the file and OpenSSL's reason when the files cannot be used.
std::shared_ptr<boost::asio::ssl::context> make_server_tls_context(const std::string& cert_file,
                                                                   const std::string& key_file,
                                                                   TlsVersion min_version = TlsVersion::v1_2);

// Re-reads the certificate and key when either file changes (its FileStamp), at most once per check interval; keeps serving the last good pair when a new one does not load.
class ReloadingTlsProvider {
 public:
  ReloadingTlsProvider(std::string cert_file, std::string key_file, TlsVersion min_version,
                       std::chrono::milliseconds check_interval = std::chrono::milliseconds(1000));
  std::shared_ptr<boost::asio::ssl::context> current();  // null until a pair has loaded
  std::string last_error() const;
  TlsContextProvider provider();

 private:
  std::string cert_file_, key_file_;
  TlsVersion min_version_;
  std::chrono::milliseconds check_interval_;
  mutable std::mutex mutex_;
  std::shared_ptr<boost::asio::ssl::context> ctx_;
  std::optional<std::pair<FileStamp, FileStamp>> stamp_;  // of the pair in use
  std::string error_;
  std::chrono::steady_clock::time_point next_check_{};
};

}  // namespace azwi::http
