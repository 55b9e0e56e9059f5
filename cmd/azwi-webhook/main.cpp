// azwi-webhook: the mutating admission webhook that injects the workload identity environment, the projected
// service account token and, on request, the IMDS proxy into pods.
#include <malloc.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <thread>
#include <tuple>

#include "common/clock.hpp"
#include "common/flags.hpp"
#include "common/log.hpp"
#include "common/logging_flags.hpp"
#include "http/server.hpp"
#include "http/tls.hpp"
#include "kube/cluster_config.hpp"
#include "webhook/app.hpp"
#include "webhook/cert_rotation.hpp"
#include "webhook/config.hpp"
#include "webhook/mutation.hpp"

using namespace azwi;

int main(int argc, char** argv) {
  // A malloc arena for every thread (the I/O threads, and room for the lookup pool, the API watchers and certificate
  // rotation): admissions keep their JSON in a per-request arena, but the TLS records and the request and answer
  // bodies still come from malloc, and two I/O threads sharing an arena queue on its lock (up to one futex call per
  // admission; with one arena per I/O thread, a helper thread started first could still leave two of them sharing
  // one). Threads that allocate little keep their arenas small: the resident set is the same as with one arena.
  const unsigned threads = std::clamp(std::thread::hardware_concurrency(), 2u, 4u);
  mallopt(M_ARENA_MAX, static_cast<int>(threads) + 8);
  std::string webhook_addr = ":9443", cert_dir = "/certs", tls_min = "1.3",
              audience(webhook::kDefaultAudience), proxy_mode(webhook::proxy_mode_name({})), health_addr = ":9440", metrics_addr = ":8095", kubeconfig;
  std::string token_layout = "v1.6", metrics_backend = "prometheus", custom_suffix, custom_audience;
  auto resources_text = [](const webhook::Resources& r) {
    return "requests.cpu=" + r.cpu_request + ",requests.memory=" + r.memory_request + ",limits.cpu=" + r.cpu_limit +
           ",limits.memory=" + r.memory_limit;
  };
  std::string proxy_resources = resources_text(webhook::kDefaultProxyResources),
              proxy_init_resources = resources_text(webhook::kDefaultProxyInitResources);
  bool disable_cert_rotation = false;
  int watch_timeout_seconds = kube::CacheOptions{}.watch_timeout_seconds;
  std::string cert_secret(webhook::kDefaultCertSecretName), service_name(webhook::kDefaultServiceName),
      webhook_config(webhook::kDefaultWebhookConfigName);
  FlagSet flags("azwi-webhook",
                "Mutating admission webhook for Azure AD Workload Identity: injects the identity environment, the\n"
                "projected service account token and, when a pod asks for it, the IMDS proxy.");
  flags.add_string("webhook-addr", &webhook_addr, "address the HTTPS admission endpoint (POST /mutate-v1-pod) listens on");
  flags.add_string("webhook-cert-dir", &cert_dir, "directory holding tls.crt and tls.key; reloaded when they change");
  flags.add_string("tls-min-version", &tls_min, "minimum TLS version of the admission endpoint: 1.2 or 1.3");
  flags.add_string("audience", &audience, "audience of the projected service account token");
  flags.add_string("token-layout", &token_layout,
                   "where the projected token goes: v1.6 (volume azure-workload-identity-reserved-<hash> at "
                   "/var/run/secrets/azure/wi, token at token/azure-identity-token) or v1.5 (volume "
                   "azure-identity-token at /var/run/secrets/azure/tokens); a pod already carrying either keeps it");
  flags.add_string("proxy-resources", &proxy_resources,
                   "resources of the injected azwi-proxy: requests.cpu=Q,requests.memory=Q,limits.cpu=Q,limits.memory=Q "
                   "(an empty Q sets none; pods override keys with the annotation " +
                       std::string(webhook::kProxyResourcesAnnotation) + ")");
  flags.add_string("proxy-init-resources", &proxy_init_resources,
                   "resources of the injected azwi-proxy-init, in the same form (pod annotation " +
                       std::string(webhook::kProxyInitResourcesAnnotation) + ")");
  flags.add_string("custom-token-endpoint-annotation-suffix", &custom_suffix,
                   "with --custom-token-endpoint-audience: pods annotated azure.workload.identity/use-<suffix>: \"true\" "
                   "get a token for that audience and the AZURE_KUBERNETES_* variables (AKS identity bindings)");
  flags.add_string("custom-token-endpoint-audience", &custom_audience,
                   "audience of the projected token for pods using the custom token endpoint (not "
                   "api://AzureADTokenExchange)");
  flags.add_string("metrics-backend", &metrics_backend,
                   "metrics exporter; only prometheus, accepted so that upstream's arguments work");
  flags.add_string("proxy-sidecar-mode", &proxy_mode,
                   "how an injected proxy sidecar is reached, for pods without the "
                   "azure.workload.identity/proxy-sidecar-mode annotation: " +
                       std::string(webhook::kProxyModeChoices));
  flags.add_int("watch-timeout-seconds", &watch_timeout_seconds,
                "timeoutSeconds of the ServiceAccount watch: the API server ends the watch then, and the webhook "
                "watches on from where it was",
                10, 3600);
  flags.add_string("health-addr", &health_addr, "address of /healthz and /readyz (plain HTTP)");
  flags.add_string("metrics-addr", &metrics_addr, "address of the Prometheus /metrics endpoint (plain HTTP)");
  flags.add_string("kubeconfig", &kubeconfig,
                   "kubeconfig file for running outside a cluster (default: $KUBECONFIG, a :-separated list, else in-cluster)");
  log::LoggingFlags logging;
  logging.add_to(flags);
  flags.add_version(AZWI_VERSION);
  flags.add_bool("disable-cert-rotation", &disable_cert_rotation,
                 "do not create or rotate the serving certificate; only read tls.crt and tls.key from "
                 "--webhook-cert-dir (e.g. issued by cert-manager)");
  flags.add_string("cert-secret-name", &cert_secret,
                   "Secret in $POD_NAMESPACE holding the CA and serving certificate shared by all replicas");
  flags.add_string("webhook-service-name", &service_name,
                   "Service in front of the webhook; the certificate names <service>.<namespace>.svc");
  flags.add_string("webhook-config-name", &webhook_config,
                   "MutatingWebhookConfiguration whose caBundle is kept equal to the Secret's CA");
  flags.add_env("AZURE_TENANT_ID", "required: default tenant of the injected identities");
  flags.add_env("POD_NAMESPACE", "the webhook's namespace, for its certificate Secret and Service (default " +
                                    std::string(webhook::kDefaultNamespace) + ")");
  flags.add_env("AZURE_ENVIRONMENT", "AzurePublicCloud (default), AzureChinaCloud or AzureUSGovernmentCloud");
  flags.add_env("AZURE_AUTHORITY_HOST",
                "https URL of the Entra ID authority to inject instead of AZURE_ENVIRONMENT's (a private cloud, an "
                "emulator); a '/' is appended when missing");
  flags.add_env("PROXY_IMAGE", "image of the injected proxy sidecar (default " + webhook::default_proxy_image() + ")");
  flags.add_env("PROXY_INIT_IMAGE",
                "image of the injected proxy init container (default " + webhook::default_proxy_init_image() + ")");
  flags.add_env("PROXY_CA_CONFIGMAP",
                "NAME[:KEY] of a ConfigMap in the pod's namespace (key default " +
                    std::string(webhook::kDefaultProxyCAKey) +
                    ") holding the CA bundle the injected proxy sidecar trusts for Entra ID (default: the image's)");
  flags.add_env("AZURE_KUBERNETES_TOKEN_PROXY",
                "with the custom token endpoint: https URL of the token proxy, injected into opted-in pods");
  flags.add_env("AZURE_KUBERNETES_SNI_NAME", "with the custom token endpoint: TLS server name of the token proxy, injected");
  flags.add_env("AZURE_KUBERNETES_CA_DATA", "with the custom token endpoint: PEM CA of the token proxy, injected");
  flags.add_env("AZURE_KUBERNETES_CA_CONFIGMAP_NAME",
                "with the custom token endpoint: ConfigMap (key ca.crt) in the pod's namespace holding the proxy's CA, "
                "projected as /var/run/secrets/azure/wi/ca-cert/ca.crt (AZURE_KUBERNETES_CA_FILE)");
  flags.add_env("AZURE_KUBERNETES_CA_CTB_SIGNER_NAME",
                "with the custom token endpoint: signer of the ClusterTrustBundle holding the proxy's CA, projected like "
                "the ConfigMap's (at most one CA source)");
  flags.add_env("AZURE_KUBERNETES_CA_CTB_LABEL_SELECTOR",
                "with the signer name: JSON label selector of the ClusterTrustBundles");
  flags.add_env("KUBERNETES_SERVICE_HOST, KUBERNETES_SERVICE_PORT",
                "the API server in a cluster (with the service account token and CA the kubelet mounts)");
  flags.add_env("KUBECONFIG", "used when --kubeconfig is not given: a file or a :-separated list, merged as kubectl does");
  flags.add_env("SSL_CERT_FILE", "CA bundle for the API server when the configuration names none");
  flags.add_env("HTTPS_PROXY, NO_PROXY", "egress proxy for the API server (CONNECT), as client-go");
  parse_flags_or_exit(flags, argc, argv);
  logging.apply_or_exit("azwi-webhook");
  log::Logger log("webhook");

  auto min_version = http::parse_tls_version(tls_min);
  if (!min_version) exit_usage_error("azwi-webhook", "invalid --tls-min-version \"" + tls_min + "\": use 1.2 or 1.3");
  webhook::AppOptions options;
  options.threads = threads;
  options.service_accounts.watch_timeout_seconds = watch_timeout_seconds;
  options.cert_dir = cert_dir;
  options.tls_min_version = *min_version;
  webhook::Config& config = options.config;
  try {
    config = webhook::config_from_env();
    config.audience = audience;
    auto mode = webhook::parse_proxy_mode(proxy_mode);
    if (!mode)
      throw std::runtime_error("invalid --proxy-sidecar-mode \"" + proxy_mode + "\": use " +
                               std::string(webhook::kProxyModeChoices));
    config.proxy_mode = *mode;
    config.proxy_log_level = logging.level;  // injected sidecars log at the webhook's level
    auto layout = webhook::parse_token_layout(token_layout);
    if (!layout) throw std::runtime_error("--token-layout=\"" + token_layout + "\" is not v1.6 or v1.5");
    config.token_layout = *layout;
    if (metrics_backend != "prometheus")
      throw std::runtime_error("--metrics-backend=\"" + metrics_backend + "\" is not supported: only prometheus is");
    for (auto [flag, text, target] : {std::tuple{"--proxy-resources", &proxy_resources, &config.proxy_resources},
                                      std::tuple{"--proxy-init-resources", &proxy_init_resources,
                                                 &config.proxy_init_resources}}) {
      try {
        *target = webhook::parse_resources(*text, *target);
      } catch (const std::invalid_argument& e) {
        throw std::runtime_error(std::string(flag) + "=\"" + *text + "\" is not usable: " + e.what());
      }
    }
    config.custom_token_endpoint = webhook::custom_token_endpoint_from(custom_suffix, custom_audience);
    options.webhook = http::parse_endpoint(webhook_addr);
    options.health = http::parse_endpoint(health_addr);
    options.metrics = http::parse_endpoint(metrics_addr);
    options.cluster = kube::resolve_cluster_config(kubeconfig);
  } catch (const std::exception& e) {
    log.error("cannot start", {{"reason", e.what()}});
    std::fprintf(stderr, "azwi-webhook: %s\n", e.what());
    return 1;
  }
  if (!disable_cert_rotation) {
    webhook::CertRotationOptions rotation;
    if (const char* ns = std::getenv("POD_NAMESPACE"); ns && *ns) rotation.ns = ns;
    rotation.secret_name = cert_secret;
    rotation.service_name = service_name;
    rotation.webhook_config_name = webhook_config;
    rotation.cert_dir = cert_dir;
    options.rotation = rotation;
  }

  SystemClock clock;
  webhook::App app(std::move(options), clock);
  try {
    app.start();
  } catch (const std::exception& e) {
    log.error("cannot listen", {{"reason", e.what()}});
    std::fprintf(stderr, "azwi-webhook: cannot listen: %s\n", e.what());
    return 1;
  }
  const webhook::Config& c = app.options().config;
  log.info("serving", {{"webhook_port", app.webhook_port()}, {"health_port", app.health_port()},
                       {"metrics_port", app.metrics_port()}, {"api_server", app.options().cluster.server},
                       {"cluster_config", app.options().cluster.source}, {"tls_min_version", tls_min},
                       {"audience", c.audience}, {"proxy_sidecar_mode", webhook::proxy_mode_name(c.proxy_mode)},
                       {"proxy_image", c.proxy_image}, {"proxy_init_image", c.proxy_init_image},
                       {"authority_host", c.authority_host},
                       {"proxy_ca_configmap",
                        c.proxy_ca_configmap.empty() ? std::string() : c.proxy_ca_configmap + ":" + c.proxy_ca_key},
                       {"token_layout", token_layout},
                       {"custom_token_endpoint_annotation",
                        c.custom_token_endpoint ? c.custom_token_endpoint->annotation : std::string()},
                       {"threads", threads}, {"version", AZWI_VERSION}});

  app.stop_on_signals();
  app.run();
  log.info("stopped");
  return 0;
}
