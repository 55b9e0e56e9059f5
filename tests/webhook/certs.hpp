#pragma once
// The certificates of the webhook tests: one test CA signing the stand-in API server's certificate and the webhook's
// serving certificate, which the webhook reads from DIR/certs.
#include <filesystem>
#include <string>

#include "../kube/support.hpp"

namespace azwi::testing {

// Makes DIR/NAME.crt and .key the webhook's tls.crt and tls.key, written aside and renamed, as the kubelet and
// cert-manager update mounted secrets.
inline void install_webhook_cert(const std::string& dir, const std::string& name) {
  namespace fs = std::filesystem;
  fs::copy_file(dir + "/" + name + ".crt", dir + "/certs/tls.crt.new", fs::copy_options::overwrite_existing);
  fs::copy_file(dir + "/" + name + ".key", dir + "/certs/tls.key.new", fs::copy_options::overwrite_existing);
  fs::rename(dir + "/certs/tls.key.new", dir + "/certs/tls.key");
  fs::rename(dir + "/certs/tls.crt.new", dir + "/certs/tls.crt");
}

// A new temporary directory with ca.crt, server.crt (localhost, for the API server) and, in certs/, the webhook's
// certificate with common name `webhook_cn` (also kept as webhook.crt).
inline std::string make_webhook_test_dir(const std::string& stem, const std::string& webhook_cn) {
  std::string dir = make_temp_dir(stem);
  make_ca(dir);
  make_cert(dir, "server", "localhost");
  std::filesystem::create_directory(dir + "/certs");
  make_cert(dir, "webhook", webhook_cn);
  install_webhook_cert(dir, "webhook");
  return dir;
}

}  // namespace azwi::testing
