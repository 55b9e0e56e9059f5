#pragma once
// For the tests of the webhook's configuration and of the mutation rows that depend on it.
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "webhook/config.hpp"

namespace azwi::webhook {

// config_from_env() with exactly these webhook variables set; the process environment is restored afterwards.
inline Config config_with_env(const std::map<std::string, std::string>& vars) {
  static const char* const kNames[] = {"AZURE_TENANT_ID",  "AZURE_ENVIRONMENT", "AZURE_AUTHORITY_HOST",
                                       "PROXY_IMAGE",      "PROXY_INIT_IMAGE",  "PROXY_CA_CONFIGMAP"};
  std::map<std::string, std::optional<std::string>> saved;
  for (const char* n : kNames) {
    const char* v = std::getenv(n);
    saved[n] = v ? std::optional<std::string>(v) : std::nullopt;
    unsetenv(n);
  }
  for (const auto& [k, v] : vars) setenv(k.c_str(), v.c_str(), 1);
  auto restore = [&] {
    for (const auto& [k, v] : saved) {
      if (v) {
        setenv(k.c_str(), v->c_str(), 1);
      } else {
        unsetenv(k.c_str());
      }
    }
  };
  try {
    Config c = config_from_env();
    restore();
    return c;
  } catch (...) {
    restore();
    throw;
  }
}


// A mutation row's tweak, and a clean slate for the config tests: the custom token endpoint read from exactly these
// AZURE_KUBERNETES_* variables (all unset afterwards).
inline std::function<void(Config&)> custom_endpoint(std::map<std::string, std::string> vars) {
  return [vars](Config& c) {
    static const char* const kNames[] = {"AZURE_KUBERNETES_TOKEN_PROXY", "AZURE_KUBERNETES_SNI_NAME",
                                         "AZURE_KUBERNETES_CA_DATA", "AZURE_KUBERNETES_CA_CONFIGMAP_NAME",
                                         "AZURE_KUBERNETES_CA_CTB_SIGNER_NAME",
                                         "AZURE_KUBERNETES_CA_CTB_LABEL_SELECTOR"};
    for (const char* n : kNames) unsetenv(n);
    for (const auto& [k, v] : vars) setenv(k.c_str(), v.c_str(), 1);
    c.custom_token_endpoint = custom_token_endpoint_from("identity-binding", "api://AKSIdentityBinding");
    for (const char* n : kNames) unsetenv(n);
  };
}

}  // namespace azwi::webhook
