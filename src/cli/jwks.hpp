#pragma once
// `azwi jwks`: the JWKS document a self-managed cluster's OIDC issuer publishes, from the API server's service
// account signing keys. Key ids are the API server's own (base64url SHA-256 of the DER public key), so that the kid
// in each projected token's header finds its key.
#include <string>
#include <vector>

#include "jwt/key.hpp"

namespace azwi::cli {

// The kid kube-apiserver puts in the tokens it signs with this key.
std::string kubernetes_key_id(const jwt::Key& key);

struct PemFile {
  std::string path;  // for messages
  std::string text;
};

// {"keys":[...]} with one public JWK per key (private keys contribute their public half), in the given order;
// the same key given twice appears once. Throws std::runtime_error naming the file that holds no usable key.
std::string jwks_from_pem_files(const std::vector<PemFile>& files);

int jwks_command(int argc, char** argv);

}  // namespace azwi::cli
