#pragma once
// The openssl command line as the independent judge of certificates the project makes (tests/certs and the webhook's
// rotation tests): a shell command's exit code and output, `openssl verify` at a chosen time, certificates in a PEM.
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "common/clock.hpp"

namespace azwi::testing {

struct Cmd {
  int code = -1;
  std::string out;
};

// Runs `cmd` with sh, stderr folded into the output.
inline Cmd sh(const std::string& cmd) {
  Cmd r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  char buf[4096];
  size_t n;
  while (p && (n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = p ? ::pclose(p) : -1;
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// `openssl verify` of a leaf against a CA bundle, for a host name, at a time (files written into `dir`).
inline bool openssl_verifies(const std::string& dir, const std::string& ca_pem, const std::string& leaf_pem,
                             const std::string& host, Clock::time_point at) {
  std::ofstream(dir + "/v-ca.pem", std::ios::trunc) << ca_pem;
  std::ofstream(dir + "/v-leaf.pem", std::ios::trunc) << leaf_pem;
  auto r = sh("openssl verify -CAfile " + dir + "/v-ca.pem -purpose sslserver -verify_hostname " + host +
              " -attime " + std::to_string(unix_seconds(at)) + " " + dir + "/v-leaf.pem");
  return r.code == 0;
}

inline int count_certs(const std::string& pem) {
  int n = 0;
  for (auto p = pem.find("BEGIN CERTIFICATE"); p != std::string::npos; p = pem.find("BEGIN CERTIFICATE", p + 1)) ++n;
  return n;
}

}  // namespace azwi::testing
