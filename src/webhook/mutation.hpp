#pragma once
// The pod mutation as a pure function: (pod, service account, configuration, cluster version) -> an RFC 6902 patch
// or a denial. No I/O, no clock: everything it needs is in its arguments.
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "imds/app_service.hpp"
#include "kube/service_account.hpp"
#include "webhook/config.hpp"

namespace azwi::webhook {

// Names shared with the upstream webhook, so existing manifests keep working.
inline constexpr std::string_view kUseLabel = "azure.workload.identity/use";
inline constexpr std::string_view kClientIdAnnotation = "azure.workload.identity/client-id";
inline constexpr std::string_view kTenantIdAnnotation = "azure.workload.identity/tenant-id";
inline constexpr std::string_view kTokenExpirationAnnotation = "azure.workload.identity/service-account-token-expiration";
inline constexpr std::string_view kSkipContainersAnnotation = "azure.workload.identity/skip-containers";
inline constexpr std::string_view kInjectProxyAnnotation = "azure.workload.identity/inject-proxy-sidecar";
inline constexpr std::string_view kProxyPortAnnotation = "azure.workload.identity/proxy-sidecar-port";
// azwi's own: how the sidecar is reached (webhook/proxy_mode.hpp). The webhook writes the mode it applied here when
// the pod did not, so the azwi-cni plugin learns it from the pod alone.
inline constexpr std::string_view kProxyModeAnnotation = "azure.workload.identity/proxy-sidecar-mode";
// Where the sidecar serves the App Service managed-identity protocol (identity-endpoint mode), on 127.0.0.1.
inline constexpr std::string_view kIdentityEndpointPath = imds::kAppServicePath;

// The v1.5 layout (TokenLayout::v1_5): volume azure-identity-token at /var/run/secrets/azure/tokens.
inline constexpr std::string_view kTokenVolumeName = "azure-identity-token";
inline constexpr std::string_view kTokenMountPath = "/var/run/secrets/azure/tokens";
// The v1.6 layout (the default): volume kReservedVolumePrefix + 30 hex digits of SHA-256 of the pod's name, at
// /var/run/secrets/azure/wi, the token at token/azure-identity-token inside it.
inline constexpr std::string_view kReservedVolumePrefix = "azure-workload-identity-reserved-";
inline constexpr std::string_view kWiMountPath = "/var/run/secrets/azure/wi";
inline constexpr std::string_view kWiTokenPath = "token/azure-identity-token";
// The token file's name, and its path inside the volume in the v1.5 layout.
inline constexpr std::string_view kTokenFileName = "azure-identity-token";
// With a custom token endpoint: the endpoint's CA, inside the token volume.
inline constexpr std::string_view kCustomCAPath = "ca-cert/ca.crt";
// With PROXY_CA_CONFIGMAP: the CA bundle the proxy trusts (its SSL_CERT_FILE), projected into the token volume.
inline constexpr std::string_view kProxyCAFileName = "azwi-proxy-ca.crt";
inline constexpr std::string_view kProxyInitName = "azwi-proxy-init";
inline constexpr std::string_view kProxyName = "azwi-proxy";
// Where the proxy image installs its binary; the postStart hook runs it with --probe.
inline constexpr std::string_view kProxyBinary = "/usr/local/bin/azwi-proxy";
inline constexpr int kProxyUid = 1501;
// Per-pod overrides of --proxy-resources and --proxy-init-resources, in the same syntax.
inline constexpr std::string_view kProxyResourcesAnnotation = "azure.workload.identity/proxy-sidecar-resources";
inline constexpr std::string_view kProxyInitResourcesAnnotation = "azure.workload.identity/proxy-init-resources";
inline constexpr int kDefaultProxyPort = 8000;
inline constexpr int kDefaultTokenExpiration = 3600;
inline constexpr int kMinTokenExpiration = 3600;
inline constexpr int kMaxTokenExpiration = 86400;

struct ClusterVersion {
  int major = 0;
  int minor = 0;
  // Native sidecars (init containers with restartPolicy: Always) are on by default from Kubernetes 1.32.
  bool native_sidecars() const { return major > 1 || (major == 1 && minor >= 32); }
};

struct Mutation {
  bool allowed = true;
  unsigned code = 200;   // on denial: 400 for a pod or annotation at fault, 500 for the webhook's own failures
  std::string message;   // why it was denied
  std::string patch;     // the RFC 6902 operations as JSON text; empty when the pod already has everything
  std::size_t patch_ops = 0;
  // For the log line: which containers received the identity, and what proxy (if any) was added.
  std::vector<std::string> containers;
  std::string proxy;  // "", "sidecar" or "native-sidecar"
  std::string_view proxy_mode;  // the mode applied to a pod that asked for the proxy; "" for one that did not
  int token_expiration = 0;
  std::string note;   // why something the pod may have expected was not done (e.g. no proxy for "false")
};

// Where a pod's token volume is and what it is called.
struct TokenPaths {
  std::string volume;           // the volume's (and the mounts') name
  std::string_view mount_path;  // where every container mounts it
  std::string_view token_path;  // the token inside the volume
  std::string dir(std::string_view file) const;  // mount_path + "/" + file
};
// The v1.6 volume name for a pod: kReservedVolumePrefix and the first 30 hex digits of SHA-256 of metadata.name,
// or of "<generateName> (prefix)" for a pod with only a generateName, as upstream v1.6.0 names it.
std::string reserved_volume_name(std::string_view name, std::string_view generate_name);
// The pod's token paths: the layout of a token volume it already carries (either layout's name), else `layout`'s.
TokenPaths token_paths(const boost::json::object& pod, TokenLayout layout);
// Whether a volume of this name is the webhook's token volume, in either layout.
bool is_token_volume(std::string_view volume_name);
// Whether an inject-proxy-sidecar (or use-<suffix>) annotation's value asks for it: "true" in any case.
bool annotation_is_true(std::string_view value);

// The service account name the pod runs as: spec.serviceAccountName, or "default".
std::string service_account_name(const boost::json::object& pod);

// True when the pod carries azure.workload.identity/use: "true" (the webhook's objectSelector); other pods are
// let through untouched even if a misconfigured webhook configuration sends them.
bool pod_opted_in(const boost::json::object& pod);

// The pod is only read; values the patch carries are built in its storage (a per-request arena on the hot path).
Mutation mutate_pod(const boost::json::object& pod, const kube::ServiceAccount& sa, const Config& config,
                    ClusterVersion version);

}  // namespace azwi::webhook
