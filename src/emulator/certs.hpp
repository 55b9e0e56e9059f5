#pragma once
// The emulator's private PKI in the state directory: a CA that clients trust (SSL_CERT_FILE, REQUESTS_CA_BUNDLE,
// NODE_EXTRA_CA_CERTS point at ca.crt) and a serving certificate it signs, made by the certs module. Both are created
// on first start and reused; the serving certificate is re-issued (by the same CA) when its names change or
// certs::check_pki finds it unusable.
#include <filesystem>
#include <string>
#include <vector>

namespace azwi::emulator {

struct TlsFiles {
  std::filesystem::path ca_cert, ca_key, server_cert, server_key;
  bool ca_created = false;
  bool server_issued = false;
};

// sans: "IP:1.2.3.4", "DNS:name", or a bare IP address / DNS name. 127.0.0.1, ::1 and localhost are added unless
// `loopback` is false (a certificate that only a client sending the right server name accepts).
// Throws std::runtime_error when existing files are unusable.
TlsFiles ensure_tls(const std::filesystem::path& state_dir, const std::vector<std::string>& sans, bool loopback = true);

}  // namespace azwi::emulator
