#include "proxy/config.hpp"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <stdexcept>

#include "common/env.hpp"
#include "identity/authority.hpp"

namespace azwi::proxy {

void register_flags(FlagSet& f, Config& c) {
  f.add_int("proxy-port", &c.port, "port to serve the IMDS token API on, on 127.0.0.1", 1, 65535);
  f.add_bool("probe", &c.probe,
             "check that a proxy answers on --proxy-port (7 tries, 1 s apart) and exit 0 or 1; for the postStart hook");
  c.logging.add_to(f);
  f.add_string("metrics-addr", &c.metrics_addr,
               "host:port to serve Prometheus metrics on at /metrics; empty turns metrics off");
  f.add_string("imds-endpoint", &c.imds_endpoint, "where requests for other IMDS paths are passed through");
  f.add_int("entra-timeout", &c.entra_timeout_seconds,
            "seconds one token request may spend on Entra ID, retries included, before the caller gets an error", 1,
            600);
  f.add_version(AZWI_VERSION);
  f.add_env("AZURE_TENANT_ID", "required: tenant of the identities the proxy serves");
  f.add_env("AZURE_CLIENT_ID", "client ID used when a request names no client_id");
  f.add_env("AZURE_FEDERATED_TOKEN_FILE", "projected service account token, read afresh for every exchange");
  f.add_env("AZURE_AUTHORITY_HOST", "Entra ID authority (default https://login.microsoftonline.com/)");
  f.add_env("AZURE_KUBERNETES_TOKEN_PROXY",
            "https URL of a custom token endpoint (AKS identity bindings): the exchange goes there instead of to "
            "AZURE_AUTHORITY_HOST");
  f.add_env("AZURE_KUBERNETES_SNI_NAME", "TLS server name of the token endpoint, sent and verified instead of the URL's host");
  f.add_env("AZURE_KUBERNETES_CA_FILE", "PEM CA of the token endpoint, re-read when it changes (instead of the system store)");
  f.add_env("AZURE_KUBERNETES_CA_DATA", "PEM CA of the token endpoint, inline; at most one of the two");
  f.add_env("IDENTITY_HEADER",
            "secret that turns on the App Service managed-identity endpoint (GET /msi/token, header "
            "X-IDENTITY-HEADER); the webhook sets it in identity-endpoint mode");
  f.add_env("HTTPS_PROXY, NO_PROXY", "egress proxy for the calls to Entra ID");
  f.add_env("SSL_CERT_FILE, SSL_CERT_DIR", "trust store for the calls to Entra ID");
}

std::optional<std::string> load_environment(Config& c) {
  c.tenant_id = env_or("AZURE_TENANT_ID", "");
  c.client_id = env_or("AZURE_CLIENT_ID", "");
  c.token_file = env_or("AZURE_FEDERATED_TOKEN_FILE", "");
  c.authority_host = env_or("AZURE_AUTHORITY_HOST", std::string(identity::kDefaultAuthorityHost));
  c.identity_header = env_or("IDENTITY_HEADER", "");
  if (c.tenant_id.empty()) {
    return "AZURE_TENANT_ID is not set: the proxy needs the tenant of the identities it serves "
           "(the webhook injects it; set it in the container's environment)";
  }
  if (!c.authority_host.starts_with("https://") && !c.authority_host.starts_with("http://")) {
    return "AZURE_AUTHORITY_HOST \"" + c.authority_host + "\" is not an http(s) URL";
  }
  if (c.authority_host.back() != '/') c.authority_host += '/';
  return load_token_proxy(c);
}

namespace {

bool holds_a_certificate(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = bio ? PEM_read_bio_X509(bio, nullptr, nullptr, nullptr) : nullptr;
  bool ok = cert != nullptr;
  X509_free(cert);
  BIO_free(bio);
  return ok;
}

}  // namespace

std::optional<std::string> load_token_proxy(Config& c) {
  c.token_proxy = env_or("AZURE_KUBERNETES_TOKEN_PROXY", "");
  c.sni_name = env_or("AZURE_KUBERNETES_SNI_NAME", "");
  c.ca_file = env_or("AZURE_KUBERNETES_CA_FILE", "");
  c.ca_data = env_or("AZURE_KUBERNETES_CA_DATA", "");
  // As the SDKs: settings for a token proxy without one are an error, not silently an exchange with Entra ID.
  if (c.token_proxy.empty()) {
    for (const char* name : {"AZURE_KUBERNETES_SNI_NAME", "AZURE_KUBERNETES_CA_FILE", "AZURE_KUBERNETES_CA_DATA"})
      if (env(name))
        return std::string(name) + " is set without AZURE_KUBERNETES_TOKEN_PROXY: set the token endpoint's URL too, "
                                   "or remove it";
    return std::nullopt;
  }
  try {
    c.token_proxy = identity::normalize_authority_host(c.token_proxy);
  } catch (const std::invalid_argument& e) {
    return "AZURE_KUBERNETES_TOKEN_PROXY=\"" + c.token_proxy + "\" is not usable: " + e.what();
  }
  if (!c.ca_file.empty() && !c.ca_data.empty())
    return "AZURE_KUBERNETES_CA_FILE and AZURE_KUBERNETES_CA_DATA are both set: give the token endpoint's CA once";
  if (!c.ca_data.empty() && !holds_a_certificate(c.ca_data))
    return "AZURE_KUBERNETES_CA_DATA holds no PEM certificate";
  return std::nullopt;
}

std::string user_agent() { return std::string("azwi-proxy/") + AZWI_VERSION; }

}  // namespace azwi::proxy
