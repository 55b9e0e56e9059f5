#include "cli/jwks.hpp"

#include <boost/json/serialize.hpp>
#include <cstdio>
#include <iostream>
#include <set>
#include <stdexcept>

#include "cli/commands.hpp"
#include "cli/files.hpp"
#include "common/flags.hpp"
#include "common/base64.hpp"
#include "jwt/digest.hpp"
#include "jwt/jwks.hpp"

namespace azwi::cli {

std::string kubernetes_key_id(const jwt::Key& key) { return azwi::base64url_encode(jwt::sha256(key.public_der())); }

std::string jwks_from_pem_files(const std::vector<PemFile>& files) {
  std::vector<jwt::Key> keys;
  std::set<std::string> seen;
  for (const auto& f : files) {
    try {
      jwt::Key key = jwt::Key::from_pem(f.text);
      key.set_kid(kubernetes_key_id(key));
      if (seen.insert(key.kid()).second) keys.push_back(std::move(key));
    } catch (const jwt::Error& e) {
      throw std::runtime_error(f.path + ": " + e.what());
    }
  }
  return jwt::render_jwks(keys);
}

int jwks_command(int argc, char** argv) {
  std::vector<std::string> paths;
  std::string output_file;
  FlagSet flags("azwi jwks",
                "Prints the JSON Web Key Set of the API server's service account signing keys, the document a\n"
                "self-managed cluster's OIDC issuer serves at its jwks_uri (openid/v1/jwks). Each key's kid is the\n"
                "one kube-apiserver writes into the tokens it signs. RSA and P-256 keys, PEM (public or private).");
  flags.add_list("public-keys", &paths,
                 "PEM files (kube-apiserver's --service-account-key-file): repeat the flag, separate with commas, "
                 "or give them as arguments");
  flags.add_string("output-file", &output_file, "write the document to this file instead of stdout");
  auto positional = parse_flags_or_exit(flags, argc, argv);
  paths.insert(paths.end(), positional.begin(), positional.end());
  if (paths.empty()) exit_usage_error("azwi jwks", "--public-keys is required (see --help)");
  try {
    std::vector<PemFile> files;
    for (const auto& p : paths) files.push_back({p, read_text_file(p)});
    std::string doc = jwks_from_pem_files(files) + "\n";
    if (output_file.empty()) {
      std::cout << doc;
    } else {
      write_text_file(output_file, doc);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "azwi jwks: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace azwi::cli
