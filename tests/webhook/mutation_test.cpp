// Table-driven tests of the pod mutation: one row per rule of docs/webhook.md ("What it changes"). Every allowed row
// also checks idempotence (the mutation of its own output is empty), and all rows' patches are applied by
// python3-jsonpatch.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <optional>
#include <stdexcept>

#include "support/json_patch.hpp"
#include "config_env.hpp"
#include "webhook/admission.hpp"
#include "webhook/mutation.hpp"

namespace json = boost::json;
using namespace azwi::webhook;

namespace {

// The mutation's operations as values, and the pod they produce.
json::array ops(const Mutation& m) {
  if (m.patch.empty()) return {};
  json::value parsed = json::parse(m.patch);
  return std::move(parsed.as_array());
}
json::object patched(const json::object& pod, const Mutation& m) { return azwi::test::apply_json_patch(pod, m.patch); }

const std::map<std::string, std::string> kMacros = {
    {"$ENV",
     R"({"name":"AZURE_CLIENT_ID","value":"client-1"},{"name":"AZURE_TENANT_ID","value":"tenant-1"},)"
     R"({"name":"AZURE_FEDERATED_TOKEN_FILE","value":"/var/run/secrets/azure/tokens/azure-identity-token"},)"
     R"({"name":"AZURE_AUTHORITY_HOST","value":"https://login.microsoftonline.com/"})"},
    {"$MOUNT", R"({"name":"azure-identity-token","mountPath":"/var/run/secrets/azure/tokens","readOnly":true})"},
    {"$VOL",
     R"({"name":"azure-identity-token","projected":{"sources":[{"serviceAccountToken":{"path":"azure-identity-token",)"
     R"("expirationSeconds":3600,"audience":"api://AzureADTokenExchange"}}]}})"},
    {"$PROXY_INIT",
     R"({"name":"azwi-proxy-init","image":"example.test/proxy-init:1","imagePullPolicy":"IfNotPresent",)"
     R"("env":[{"name":"PROXY_PORT","value":"8000"}],$RESOURCES)"
     R"("securityContext":{"capabilities":{"add":["NET_ADMIN"],"drop":["ALL"]},"privileged":true,)"
     R"("readOnlyRootFilesystem":true,"runAsNonRoot":false,"runAsUser":0}})"},
    {"$RESOURCES",
     R"("resources":{"requests":{"cpu":"10m","memory":"16Mi"},"limits":{"cpu":"200m","memory":"64Mi"}},)"},
    {"$PROXY_BODY",
     R"("name":"azwi-proxy","image":"example.test/proxy:1","imagePullPolicy":"IfNotPresent",)"
     R"("args":["--proxy-port=8000","--log-level=info"],"ports":[{"containerPort":8000}],)"
     R"("lifecycle":{"postStart":{"exec":{"command":["/usr/local/bin/azwi-proxy","--probe","--proxy-port=8000"]}}},)"
     R"($RESOURCES"securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]},"privileged":false,)"
     R"("readOnlyRootFilesystem":true,"runAsNonRoot":true,"runAsUser":1501})"},
    // identity-endpoint mode's two variables, with the rows' fixed secret.
    {"$IDENV",
     R"({"name":"IDENTITY_ENDPOINT","value":"http://127.0.0.1:8000/msi/token"},)"
     R"({"name":"IDENTITY_HEADER","value":"secret-1"})"},
};

std::string expand(std::string text) {
  // $PROXY_BODY must expand before shorter names that prefix it; none do, but order longest first anyway.
  for (int pass = 0; pass < 3; ++pass)
    for (const auto& [k, v] : kMacros)
      for (auto at = text.find(k); at != std::string::npos; at = text.find(k, at + v.size())) text.replace(at, k.size(), v);
  return text;
}

json::object parse_object(const std::string& text) { return json::parse(expand(text)).as_object(); }

struct Row {
  std::string name;  // rows are written in the v1.5 layout; v16_rows() runs each in the v1.6 layout as well
  std::string pod;
  std::map<std::string, std::string> sa = {{"azure.workload.identity/client-id", "client-1"}};
  ClusterVersion version{1, 31};
  std::string expected;  // the mutated pod; empty for a denial
  unsigned deny_code = 0;
  std::string deny_contains;
  std::function<void(Config&)> tweak = nullptr;
  TokenLayout layout = TokenLayout::v1_5;
};

Config base_config() {
  Config c;
  c.tenant_id = "tenant-1";
  c.authority_host = "https://login.microsoftonline.com/";
  c.proxy_image = "example.test/proxy:1";
  c.proxy_init_image = "example.test/proxy-init:1";
  c.token_layout = TokenLayout::v1_5;
  return c;
}

azwi::kube::ServiceAccount make_sa(const Row& r) {
  azwi::kube::ServiceAccount sa;
  sa.ns = "ns1";
  sa.name = "app";
  for (const auto& [k, v] : r.sa) sa.annotations.emplace(k, v);
  return sa;
}

const std::string kSimplePod = R"({"metadata":{"name":"p","labels":{"azure.workload.identity/use":"true"}},
  "spec":{"serviceAccountName":"app","containers":[{"name":"app","image":"busybox"}]}})";
const std::string kSimpleExpected = R"({"metadata":{"name":"p","labels":{"azure.workload.identity/use":"true"}},
  "spec":{"serviceAccountName":"app","containers":[{"name":"app","image":"busybox","env":[$ENV],"volumeMounts":[$MOUNT]}],
  "volumes":[$VOL]}})";

std::string with_annotations(const std::string& annotations, const std::string& spec) {
  return R"({"metadata":{"name":"p","annotations":)" + annotations + R"(},"spec":)" + spec + "}";
}

// The identity environment with another authority host.
std::string env_with_host(const std::string& host) {
  return R"({"name":"AZURE_CLIENT_ID","value":"client-1"},{"name":"AZURE_TENANT_ID","value":"tenant-1"},)"
         R"({"name":"AZURE_FEDERATED_TOKEN_FILE","value":"/var/run/secrets/azure/tokens/azure-identity-token"},)"
         R"({"name":"AZURE_AUTHORITY_HOST","value":")" + host + R"("})";
}
const std::string kCAEnv = R"({"name":"SSL_CERT_FILE","value":"/var/run/secrets/azure/tokens/azwi-proxy-ca.crt"})";
// The token volume with the proxy's CA projected beside the token.
std::string ca_volume(const std::string& configmap, const std::string& key, int expiration = 3600) {
  return R"({"name":"azure-identity-token","projected":{"sources":[{"serviceAccountToken":{"path":"azure-identity-token",)"
         R"("expirationSeconds":)" + std::to_string(expiration) +
         R"(,"audience":"api://AzureADTokenExchange"}},{"configMap":{"name":")" + configmap +
         R"(","items":[{"key":")" + key + R"(","path":"azwi-proxy-ca.crt"}],"optional":false}}]}})";
}

// Row tweak: the authority host and proxy CA the webhook reads from these variables (with tenant-1).
std::function<void(Config&)> from_env(std::map<std::string, std::string> vars) {
  return [vars](Config& c) {
    auto all = vars;
    all.emplace("AZURE_TENANT_ID", "tenant-1");
    Config e = config_with_env(all);
    c.authority_host = e.authority_host;
    c.proxy_ca_configmap = e.proxy_ca_configmap;
    c.proxy_ca_key = e.proxy_ca_key;
  };
}

std::vector<Row> rows() {
  std::vector<Row> r;
  r.push_back({"basic", kSimplePod, {{"azure.workload.identity/client-id", "client-1"}}, {1, 31}, kSimpleExpected});
  r.push_back({"no_client_id_annotation_adds_no_client_id", R"({"spec":{"containers":[{"name":"a"}]}})", {}, {1, 31},
               R"({"spec":{"containers":[{"name":"a","env":[
                 {"name":"AZURE_TENANT_ID","value":"tenant-1"},
                 {"name":"AZURE_FEDERATED_TOKEN_FILE","value":"/var/run/secrets/azure/tokens/azure-identity-token"},
                 {"name":"AZURE_AUTHORITY_HOST","value":"https://login.microsoftonline.com/"}],
                 "volumeMounts":[$MOUNT]}],"volumes":[$VOL]}})"});
  r.push_back({"empty_client_id_annotation_adds_no_client_id", R"({"spec":{"containers":[{"name":"a","env":[]}]}})",
               {{"azure.workload.identity/client-id", ""}}, {1, 31},
               R"({"spec":{"containers":[{"name":"a","env":[
                 {"name":"AZURE_TENANT_ID","value":"tenant-1"},
                 {"name":"AZURE_FEDERATED_TOKEN_FILE","value":"/var/run/secrets/azure/tokens/azure-identity-token"},
                 {"name":"AZURE_AUTHORITY_HOST","value":"https://login.microsoftonline.com/"}],
                 "volumeMounts":[$MOUNT]}],"volumes":[$VOL]}})"});
  r.push_back({"service_account_tenant_wins_over_webhook_tenant", R"({"spec":{"containers":[{"name":"a"}]}})",
               {{"azure.workload.identity/client-id", "c2"}, {"azure.workload.identity/tenant-id", "tenant-sa"}}, {1, 31},
               R"({"spec":{"containers":[{"name":"a","env":[
                 {"name":"AZURE_CLIENT_ID","value":"c2"},{"name":"AZURE_TENANT_ID","value":"tenant-sa"},
                 {"name":"AZURE_FEDERATED_TOKEN_FILE","value":"/var/run/secrets/azure/tokens/azure-identity-token"},
                 {"name":"AZURE_AUTHORITY_HOST","value":"https://login.microsoftonline.com/"}],
                 "volumeMounts":[$MOUNT]}],"volumes":[$VOL]}})"});
  r.push_back({"china_cloud_authority_and_custom_audience", R"({"spec":{"containers":[{"name":"a"}]}})", {}, {1, 31},
               R"({"spec":{"containers":[{"name":"a","env":[
                 {"name":"AZURE_TENANT_ID","value":"tenant-1"},
                 {"name":"AZURE_FEDERATED_TOKEN_FILE","value":"/var/run/secrets/azure/tokens/azure-identity-token"},
                 {"name":"AZURE_AUTHORITY_HOST","value":"https://login.chinacloudapi.cn/"}],
                 "volumeMounts":[$MOUNT]}],"volumes":[{"name":"azure-identity-token","projected":{"sources":[
                 {"serviceAccountToken":{"path":"azure-identity-token","expirationSeconds":3600,"audience":"api://custom"}}]}}]}})",
               0, "", [](Config& c) {
                 c.authority_host = *authority_host_for("AzureChinaCloud");
                 c.audience = "api://custom";
               }});
  r.push_back({"existing_env_vars_are_kept", R"({"spec":{"containers":[{"name":"a","env":[
                 {"name":"AZURE_CLIENT_ID","value":"mine"},{"name":"OTHER","value":"x"}]}]}})",
               {{"azure.workload.identity/client-id", "client-1"}}, {1, 31},
               R"({"spec":{"containers":[{"name":"a","env":[
                 {"name":"AZURE_CLIENT_ID","value":"mine"},{"name":"OTHER","value":"x"},
                 {"name":"AZURE_TENANT_ID","value":"tenant-1"},
                 {"name":"AZURE_FEDERATED_TOKEN_FILE","value":"/var/run/secrets/azure/tokens/azure-identity-token"},
                 {"name":"AZURE_AUTHORITY_HOST","value":"https://login.microsoftonline.com/"}],
                 "volumeMounts":[$MOUNT]}],"volumes":[$VOL]}})"});
  r.push_back({"env_from_value_from_counts_as_present", R"({"spec":{"containers":[{"name":"a","env":[
                 {"name":"AZURE_TENANT_ID","valueFrom":{"secretKeyRef":{"name":"s","key":"k"}}}]}]}})",
               {{"azure.workload.identity/client-id", "client-1"}}, {1, 31},
               R"({"spec":{"containers":[{"name":"a","env":[
                 {"name":"AZURE_TENANT_ID","valueFrom":{"secretKeyRef":{"name":"s","key":"k"}}},
                 {"name":"AZURE_CLIENT_ID","value":"client-1"},
                 {"name":"AZURE_FEDERATED_TOKEN_FILE","value":"/var/run/secrets/azure/tokens/azure-identity-token"},
                 {"name":"AZURE_AUTHORITY_HOST","value":"https://login.microsoftonline.com/"}],
                 "volumeMounts":[$MOUNT]}],"volumes":[$VOL]}})"});
  r.push_back({"mount_of_same_name_is_replaced_others_kept", R"({"spec":{"containers":[{"name":"a","volumeMounts":[
                 {"name":"data","mountPath":"/data"},{"name":"azure-identity-token","mountPath":"/wrong"}]}],
                 "volumes":[{"name":"data","emptyDir":{}}]}})",
               {{"azure.workload.identity/client-id", "client-1"}}, {1, 31},
               R"({"spec":{"containers":[{"name":"a","env":[$ENV],"volumeMounts":[
                 {"name":"data","mountPath":"/data"},$MOUNT]}],"volumes":[{"name":"data","emptyDir":{}},$VOL]}})"});
  r.push_back({"volume_of_same_name_is_replaced", R"({"spec":{"containers":[{"name":"a","env":[$ENV],"volumeMounts":[$MOUNT]}],
                 "volumes":[{"name":"azure-identity-token","emptyDir":{}},{"name":"z","emptyDir":{}}]}})",
               {{"azure.workload.identity/client-id", "client-1"}}, {1, 31},
               R"({"spec":{"containers":[{"name":"a","env":[$ENV],"volumeMounts":[$MOUNT]}],
                 "volumes":[$VOL,{"name":"z","emptyDir":{}}]}})"});
  r.push_back({"already_mutated_pod_with_api_defaults_is_left_alone",
               R"({"spec":{"containers":[{"name":"a","env":[$ENV],"volumeMounts":[$MOUNT]}],
                 "volumes":[{"name":"azure-identity-token","projected":{"defaultMode":420,"sources":[{"serviceAccountToken":
                 {"path":"azure-identity-token","expirationSeconds":3600,"audience":"api://AzureADTokenExchange"}}]}}]}})",
               {{"azure.workload.identity/client-id", "client-1"}}, {1, 31},
               R"({"spec":{"containers":[{"name":"a","env":[$ENV],"volumeMounts":[$MOUNT]}],
                 "volumes":[{"name":"azure-identity-token","projected":{"defaultMode":420,"sources":[{"serviceAccountToken":
                 {"path":"azure-identity-token","expirationSeconds":3600,"audience":"api://AzureADTokenExchange"}}]}}]}})"});
  r.push_back({"init_containers_are_mutated_too", R"({"spec":{"initContainers":[{"name":"i"}],"containers":[{"name":"a"}]}})",
               {{"azure.workload.identity/client-id", "client-1"}}, {1, 31},
               R"({"spec":{"initContainers":[{"name":"i","env":[$ENV],"volumeMounts":[$MOUNT]}],
                 "containers":[{"name":"a","env":[$ENV],"volumeMounts":[$MOUNT]}],"volumes":[$VOL]}})"});
  r.push_back({"skip_containers_trimmed_names",
               with_annotations(R"({"azure.workload.identity/skip-containers":" a ;i;; "})",
                                R"({"initContainers":[{"name":"i"}],"containers":[{"name":"a"},{"name":"b"}]})"),
               {{"azure.workload.identity/client-id", "client-1"}}, {1, 31},
               with_annotations(R"({"azure.workload.identity/skip-containers":" a ;i;; "})",
                                R"({"initContainers":[{"name":"i"}],"containers":[{"name":"a"},
                                  {"name":"b","env":[$ENV],"volumeMounts":[$MOUNT]}],"volumes":[$VOL]})")});
  // Token expiration: service account annotation, pod annotation (wins), bounds.
  r.push_back({"service_account_token_expiration", R"({"spec":{"containers":[{"name":"a"}]}})",
               {{"azure.workload.identity/client-id", "client-1"},
                {"azure.workload.identity/service-account-token-expiration", "7200"}},
               {1, 31},
               R"({"spec":{"containers":[{"name":"a","env":[$ENV],"volumeMounts":[$MOUNT]}],"volumes":[{"name":"azure-identity-token",
                 "projected":{"sources":[{"serviceAccountToken":{"path":"azure-identity-token","expirationSeconds":7200,
                 "audience":"api://AzureADTokenExchange"}}]}}]}})"});
  r.push_back({"pod_token_expiration_wins",
               with_annotations(R"({"azure.workload.identity/service-account-token-expiration":"86400"})",
                                R"({"containers":[{"name":"a"}]})"),
               {{"azure.workload.identity/client-id", "client-1"},
                {"azure.workload.identity/service-account-token-expiration", "not-a-number"}},
               {1, 31},
               with_annotations(R"({"azure.workload.identity/service-account-token-expiration":"86400"})",
                                R"({"containers":[{"name":"a","env":[$ENV],"volumeMounts":[$MOUNT]}],"volumes":[{"name":"azure-identity-token",
                 "projected":{"sources":[{"serviceAccountToken":{"path":"azure-identity-token","expirationSeconds":86400,
                 "audience":"api://AzureADTokenExchange"}}]}}]})")});
  for (std::string bad : {"3599", "86401", "abc", "", "36OO", "-3600", "3600.0", " 3600"}) {
    r.push_back({"bad_pod_token_expiration_" + std::to_string(r.size()),
                 with_annotations(R"({"azure.workload.identity/service-account-token-expiration":")" + bad + R"("})",
                                  R"({"containers":[{"name":"a"}]})"),
                 {}, {1, 31}, "", 400, "service-account-token-expiration"});
  }
  r.push_back({"bad_service_account_token_expiration", R"({"spec":{"containers":[{"name":"a"}]}})",
               {{"azure.workload.identity/service-account-token-expiration", "100"}}, {1, 31}, "", 400,
               "expected a whole number of seconds from 3600 to 86400"});
  // Proxy injection, upstream order (API server older than 1.32).
  r.push_back({"proxy_legacy_order",
               with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true"})",
                                R"({"initContainers":[{"name":"i"}],"containers":[{"name":"a"}]})"),
               {{"azure.workload.identity/client-id", "client-1"}}, {1, 31},
               with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true"})",
                                R"({"initContainers":[{"name":"i","env":[$ENV],"volumeMounts":[$MOUNT]},$PROXY_INIT],
                 "containers":[{$PROXY_BODY,"env":[$ENV],"volumeMounts":[$MOUNT]},{"name":"a","env":[$ENV],"volumeMounts":[$MOUNT]}],
                 "volumes":[$VOL]})")});
  r.push_back({"proxy_legacy_without_init_containers",
               with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"TRUE"})", R"({"containers":[{"name":"a"}]})"),
               {{"azure.workload.identity/client-id", "client-1"}}, {1, 27},
               with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"TRUE"})",
                                R"({"containers":[{$PROXY_BODY,"env":[$ENV],"volumeMounts":[$MOUNT]},{"name":"a","env":[$ENV],"volumeMounts":[$MOUNT]}],
                 "initContainers":[$PROXY_INIT],"volumes":[$VOL]})")});
  // Unlike upstream (its issue #1210), only "true" in any case injects the proxy.
  for (std::string value : {"false", "", "False", "yes", "1", "true "}) {
    r.push_back({"proxy_annotation_not_true_does_not_inject_" + std::to_string(r.size()),
                 with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":")" + value + R"("})",
                                  R"({"containers":[{"name":"a"}]})"),
                 {{"azure.workload.identity/client-id", "client-1"}}, {1, 32},
                 with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":")" + value + R"("})",
                                  R"({"containers":[{"name":"a","env":[$ENV],"volumeMounts":[$MOUNT]}],"volumes":[$VOL]})")});
  }
  // Native sidecars (1.32+): proxy-init then the proxy at the start of initContainers.
  for (ClusterVersion v : {ClusterVersion{1, 32}, ClusterVersion{1, 33}, ClusterVersion{2, 0}}) {
    r.push_back({"proxy_native_order_" + std::to_string(v.major) + "_" + std::to_string(v.minor),
                 with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true"})",
                                  R"({"initContainers":[{"name":"i1"},{"name":"i2"}],"containers":[{"name":"a"}]})"),
                 {{"azure.workload.identity/client-id", "client-1"}}, v,
                 with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true"})",
                                  R"({"initContainers":[$PROXY_INIT,{$PROXY_BODY,"restartPolicy":"Always","env":[$ENV],"volumeMounts":[$MOUNT]},
                   {"name":"i1","env":[$ENV],"volumeMounts":[$MOUNT]},{"name":"i2","env":[$ENV],"volumeMounts":[$MOUNT]}],
                   "containers":[{"name":"a","env":[$ENV],"volumeMounts":[$MOUNT]}],"volumes":[$VOL]})")});
  }
  r.push_back({"proxy_native_without_init_containers",
               with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true"})", R"({"containers":[{"name":"a"}]})"),
               {{"azure.workload.identity/client-id", "client-1"}}, {1, 32},
               with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true"})",
                                R"({"containers":[{"name":"a","env":[$ENV],"volumeMounts":[$MOUNT]}],
                 "initContainers":[$PROXY_INIT,{$PROXY_BODY,"restartPolicy":"Always","env":[$ENV],"volumeMounts":[$MOUNT]}],
                 "volumes":[$VOL]})")});
  r.push_back({"proxy_native_after_existing_proxy_init",
               with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true"})",
                                R"({"initContainers":[{"name":"i1"},{"name":"azwi-proxy-init","image":"mine"}],"containers":[{"name":"a"}]})"),
               {{"azure.workload.identity/client-id", "client-1"}}, {1, 32},
               with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true"})",
                                R"({"initContainers":[{"name":"i1","env":[$ENV],"volumeMounts":[$MOUNT]},{"name":"azwi-proxy-init","image":"mine"},
                 {$PROXY_BODY,"restartPolicy":"Always","env":[$ENV],"volumeMounts":[$MOUNT]}],
                 "containers":[{"name":"a","env":[$ENV],"volumeMounts":[$MOUNT]}],"volumes":[$VOL]})")});
  r.push_back({"proxy_existing_sidecar_not_duplicated",
               with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true"})",
                                R"({"containers":[{"name":"azwi-proxy","image":"mine"},{"name":"a"}]})"),
               {{"azure.workload.identity/client-id", "client-1"}}, {1, 31},
               with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true"})",
                                R"({"containers":[{"name":"azwi-proxy","image":"mine","env":[$ENV],"volumeMounts":[$MOUNT]},
                 {"name":"a","env":[$ENV],"volumeMounts":[$MOUNT]}],"initContainers":[$PROXY_INIT],"volumes":[$VOL]})")});
  r.push_back({"proxy_custom_port_and_skipped_sidecar",
               with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true","azure.workload.identity/proxy-sidecar-port":"9000",
                                   "azure.workload.identity/skip-containers":"azwi-proxy"})",
                                R"({"containers":[{"name":"a"}]})"),
               {{"azure.workload.identity/client-id", "client-1"}}, {1, 31},
               with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true","azure.workload.identity/proxy-sidecar-port":"9000",
                                   "azure.workload.identity/skip-containers":"azwi-proxy"})",
                                R"({"containers":[{"name":"azwi-proxy","image":"example.test/proxy:1","imagePullPolicy":"IfNotPresent",
                 "args":["--proxy-port=9000","--log-level=debug"],"ports":[{"containerPort":9000}],
                 "lifecycle":{"postStart":{"exec":{"command":["/usr/local/bin/azwi-proxy","--probe","--proxy-port=9000"]}}},
                 $RESOURCES"securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]},"privileged":false,
                 "readOnlyRootFilesystem":true,"runAsNonRoot":true,"runAsUser":1501}},
                 {"name":"a","env":[$ENV],"volumeMounts":[$MOUNT]}],
                 "initContainers":[{"name":"azwi-proxy-init","image":"example.test/proxy-init:1","imagePullPolicy":"IfNotPresent",
                 "env":[{"name":"PROXY_PORT","value":"9000"}],$RESOURCES"securityContext":{"capabilities":{"add":["NET_ADMIN"],"drop":["ALL"]},
                 "privileged":true,"readOnlyRootFilesystem":true,"runAsNonRoot":false,"runAsUser":0}}],"volumes":[$VOL]})"),
               0, "", [](Config& c) { c.proxy_log_level = "debug"; }});
  for (std::string bad : {"abc", "0", "65536", "-1", "80.5", ""}) {
    r.push_back({"bad_proxy_port_" + std::to_string(r.size()),
                 with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true","azure.workload.identity/proxy-sidecar-port":")" +
                                      bad + R"("})",
                                  R"({"containers":[{"name":"a"}]})"),
                 {}, {1, 31}, "", 400, "proxy-sidecar-port"});
  }
  r.push_back({"bad_proxy_port_ignored_without_injection",
               with_annotations(R"({"azure.workload.identity/proxy-sidecar-port":"abc"})", R"({"containers":[{"name":"a"}]})"),
               {{"azure.workload.identity/client-id", "client-1"}}, {1, 31},
               with_annotations(R"({"azure.workload.identity/proxy-sidecar-port":"abc"})",
                                R"({"containers":[{"name":"a","env":[$ENV],"volumeMounts":[$MOUNT]}],"volumes":[$VOL]})")});
  r.push_back({"host_network_refuses_proxy",
               with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true"})",
                                R"({"hostNetwork":true,"containers":[{"name":"a"}]})"),
               {}, {1, 31}, "", 400, "hostNetwork"});
  r.push_back({"host_network_without_proxy_is_fine", R"({"spec":{"hostNetwork":true,"containers":[{"name":"a"}]}})",
               {{"azure.workload.identity/client-id", "client-1"}}, {1, 31},
               R"({"spec":{"hostNetwork":true,"containers":[{"name":"a","env":[$ENV],"volumeMounts":[$MOUNT]}],"volumes":[$VOL]}})"});
  // AZURE_AUTHORITY_HOST wins over AZURE_ENVIRONMENT, normalised, in every container and the sidecar.
  {
    const std::string emu = env_with_host("https://azwi-emulator.test:8443/entra/");
    r.push_back({"authority_host_override_reaches_apps_and_sidecar",
                 with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true"})",
                                  R"({"initContainers":[{"name":"i1"}],"containers":[{"name":"a"}]})"),
                 {{"azure.workload.identity/client-id", "client-1"}}, {1, 32},
                 with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true"})",
                                  R"({"initContainers":[$PROXY_INIT,{$PROXY_BODY,"restartPolicy":"Always","env":[)" + emu +
                                      R"(],"volumeMounts":[$MOUNT]},{"name":"i1","env":[)" + emu +
                                      R"(],"volumeMounts":[$MOUNT]}],"containers":[{"name":"a","env":[)" + emu +
                                      R"(],"volumeMounts":[$MOUNT]}],"volumes":[$VOL]})"),
                 0, "",
                 from_env({{"AZURE_ENVIRONMENT", "AzureChinaCloud"},
                           {"AZURE_AUTHORITY_HOST", "HTTPS://azwi-emulator.test:8443/entra"}})});
    r.push_back({"authority_host_override_without_proxy", kSimplePod, {{"azure.workload.identity/client-id", "client-1"}},
                 {1, 31},
                 R"({"metadata":{"name":"p","labels":{"azure.workload.identity/use":"true"}},
                   "spec":{"serviceAccountName":"app","containers":[{"name":"app","image":"busybox","env":[)" +
                     env_with_host("https://10.0.0.5/") + R"(],"volumeMounts":[$MOUNT]}],"volumes":[$VOL]}})",
                 0, "", from_env({{"AZURE_AUTHORITY_HOST", "https://10.0.0.5"}})});
  }
  // PROXY_CA_CONFIGMAP: the CA is projected beside the token and only the sidecar trusts it.
  r.push_back({"proxy_ca_native_sidecar_only",
               with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true"})",
                                R"({"initContainers":[{"name":"i1"}],"containers":[{"name":"a"}]})"),
               {{"azure.workload.identity/client-id", "client-1"}}, {1, 32},
               with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true"})",
                                R"({"initContainers":[$PROXY_INIT,{$PROXY_BODY,"restartPolicy":"Always","env":[$ENV,)" +
                                    kCAEnv + R"(],"volumeMounts":[$MOUNT]},{"name":"i1","env":[$ENV],"volumeMounts":[$MOUNT]}],
                 "containers":[{"name":"a","env":[$ENV],"volumeMounts":[$MOUNT]}],"volumes":[)" +
                                    ca_volume("emulator-ca", "ca.crt") + "]}"),
               0, "", from_env({{"PROXY_CA_CONFIGMAP", "emulator-ca"}})});
  {
    const std::string emu = env_with_host("https://azwi-emulator.azwi-system.svc/");
    r.push_back({"proxy_ca_custom_key_and_authority_legacy_order",
                 with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true",
                                     "azure.workload.identity/service-account-token-expiration":"7200"})",
                                  R"({"containers":[{"name":"a","env":[{"name":"SSL_CERT_FILE","value":"/app/ca.pem"}]}],
                                     "volumes":[{"name":"data","emptyDir":{}}]})"),
                 {{"azure.workload.identity/client-id", "client-1"}}, {1, 31},
                 with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true",
                                     "azure.workload.identity/service-account-token-expiration":"7200"})",
                                  R"({"containers":[{$PROXY_BODY,"env":[)" + emu + "," + kCAEnv +
                                      R"(],"volumeMounts":[$MOUNT]},
                   {"name":"a","env":[{"name":"SSL_CERT_FILE","value":"/app/ca.pem"},)" + emu +
                                      R"(],"volumeMounts":[$MOUNT]}],
                   "initContainers":[$PROXY_INIT],"volumes":[{"name":"data","emptyDir":{}},)" +
                                      ca_volume("emulator-ca.v2", "bundle.pem", 7200) + "]}"),
                 0, "",
                 from_env({{"PROXY_CA_CONFIGMAP", "emulator-ca.v2:bundle.pem"},
                           {"AZURE_AUTHORITY_HOST", "https://azwi-emulator.azwi-system.svc"}})});
  }
  r.push_back({"proxy_ca_without_proxy_annotation_changes_nothing", kSimplePod,
               {{"azure.workload.identity/client-id", "client-1"}}, {1, 32}, kSimpleExpected, 0, "",
               from_env({{"PROXY_CA_CONFIGMAP", "emulator-ca"}})});
  r.push_back({"proxy_ca_not_projected_for_a_skipped_sidecar",
               with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true","azure.workload.identity/skip-containers":"azwi-proxy"})",
                                R"({"containers":[{"name":"a"}]})"),
               {{"azure.workload.identity/client-id", "client-1"}}, {1, 31},
               with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true","azure.workload.identity/skip-containers":"azwi-proxy"})",
                                R"({"containers":[{$PROXY_BODY},{"name":"a","env":[$ENV],"volumeMounts":[$MOUNT]}],
                 "initContainers":[$PROXY_INIT],"volumes":[$VOL]})"),
               0, "", from_env({{"PROXY_CA_CONFIGMAP", "emulator-ca"}})});
  // A pod's own azwi-proxy container is the sidecar: it gets SSL_CERT_FILE unless it sets it itself.
  r.push_back({"proxy_ca_existing_sidecar_and_token_volume_without_ca",
               with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true"})",
                                R"({"containers":[{"name":"azwi-proxy","image":"mine"},
                                   {"name":"b","env":[{"name":"SSL_CERT_FILE","value":"/b.pem"}]}],
                                   "volumes":[$VOL]})"),
               {{"azure.workload.identity/client-id", "client-1"}}, {1, 31},
               with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true"})",
                                R"({"containers":[{"name":"azwi-proxy","image":"mine","env":[$ENV,)" + kCAEnv +
                                    R"(],"volumeMounts":[$MOUNT]},
                 {"name":"b","env":[{"name":"SSL_CERT_FILE","value":"/b.pem"},$ENV],"volumeMounts":[$MOUNT]}],
                 "initContainers":[$PROXY_INIT],"volumes":[)" + ca_volume("emulator-ca", "ca.crt") + "]}"),
               0, "", from_env({{"PROXY_CA_CONFIGMAP", "emulator-ca"}})});
  // Reinvocation on what the API server stored (defaultMode added to the projected volume): nothing to do.
  {
    std::string stored = with_annotations(
        R"({"azure.workload.identity/inject-proxy-sidecar":"true"})",
        R"({"initContainers":[$PROXY_INIT,{$PROXY_BODY,"restartPolicy":"Always","env":[$ENV,)" + kCAEnv +
            R"(],"volumeMounts":[$MOUNT]}],"containers":[{"name":"a","env":[$ENV],"volumeMounts":[$MOUNT]}],
            "volumes":[{"name":"azure-identity-token","projected":{"defaultMode":420,"sources":[
            {"serviceAccountToken":{"path":"azure-identity-token","expirationSeconds":3600,"audience":"api://AzureADTokenExchange"}},
            {"configMap":{"name":"emulator-ca","items":[{"key":"ca.crt","path":"azwi-proxy-ca.crt"}],"optional":false}}]}}]})");
    r.push_back({"proxy_ca_reinvocation_after_api_defaults_is_a_no_op", stored,
                 {{"azure.workload.identity/client-id", "client-1"}}, {1, 32}, stored, 0, "",
                 from_env({{"PROXY_CA_CONFIGMAP", "emulator-ca"}})});
  }
  // Proxy modes: identity-endpoint and cni add no azwi-proxy-init; identity-endpoint points every container at the
  // sidecar's App Service endpoint with one secret. The mode applied is recorded when the pod did not say it.
  auto secret_1 = [](Config& c) { c.identity_secret = [] { return std::string("secret-1"); }; };
  auto default_mode = [secret_1](ProxyMode mode) {
    return [secret_1, mode](Config& c) {
      secret_1(c);
      c.proxy_mode = mode;
    };
  };
  r.push_back({"mode_identity_endpoint_by_annotation_no_proxy_init",
               with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true","azure.workload.identity/proxy-sidecar-mode":"identity-endpoint"})",
                                R"({"containers":[{"name":"a"}]})"),
               {{"azure.workload.identity/client-id", "client-1"}}, {1, 31},
               with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true","azure.workload.identity/proxy-sidecar-mode":"identity-endpoint"})",
                                R"({"containers":[{$PROXY_BODY,"env":[$ENV,$IDENV],"volumeMounts":[$MOUNT]},
                                   {"name":"a","env":[$ENV,$IDENV],"volumeMounts":[$MOUNT]}],"volumes":[$VOL]})"),
               0, "", secret_1});
  r.push_back({"mode_identity_endpoint_by_flag_native_sidecar_first_and_recorded",
               with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true"})",
                                R"({"initContainers":[{"name":"i"}],"containers":[{"name":"a"}]})"),
               {{"azure.workload.identity/client-id", "client-1"}}, {1, 33},
               with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true","azure.workload.identity/proxy-sidecar-mode":"identity-endpoint"})",
                                R"({"initContainers":[{$PROXY_BODY,"restartPolicy":"Always","env":[$ENV,$IDENV],"volumeMounts":[$MOUNT]},
                                   {"name":"i","env":[$ENV,$IDENV],"volumeMounts":[$MOUNT]}],
                                   "containers":[{"name":"a","env":[$ENV,$IDENV],"volumeMounts":[$MOUNT]}],"volumes":[$VOL]})"),
               0, "", default_mode(ProxyMode::identity_endpoint)});
  r.push_back({"mode_identity_endpoint_keeps_the_sidecars_secret_for_new_containers",
               with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true","azure.workload.identity/proxy-sidecar-mode":"identity-endpoint"})",
                                R"({"containers":[{$PROXY_BODY,"env":[$ENV,{"name":"IDENTITY_HEADER","value":"kept"}],"volumeMounts":[$MOUNT]},
                                   {"name":"b"}],"volumes":[$VOL]})"),
               {{"azure.workload.identity/client-id", "client-1"}}, {1, 31},
               with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true","azure.workload.identity/proxy-sidecar-mode":"identity-endpoint"})",
                                R"({"containers":[{$PROXY_BODY,"env":[$ENV,{"name":"IDENTITY_HEADER","value":"kept"},
                                   {"name":"IDENTITY_ENDPOINT","value":"http://127.0.0.1:8000/msi/token"}],"volumeMounts":[$MOUNT]},
                                   {"name":"b","env":[$ENV,{"name":"IDENTITY_ENDPOINT","value":"http://127.0.0.1:8000/msi/token"},
                                   {"name":"IDENTITY_HEADER","value":"kept"}],"volumeMounts":[$MOUNT]}],"volumes":[$VOL]})"),
               0, "", secret_1});
  r.push_back({"mode_cni_by_annotation_native_no_proxy_init_no_endpoint",
               with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true","azure.workload.identity/proxy-sidecar-mode":"cni"})",
                                R"({"containers":[{"name":"a"}]})"),
               {{"azure.workload.identity/client-id", "client-1"}}, {1, 32},
               with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true","azure.workload.identity/proxy-sidecar-mode":"cni"})",
                                R"({"initContainers":[{$PROXY_BODY,"restartPolicy":"Always","env":[$ENV],"volumeMounts":[$MOUNT]}],
                                   "containers":[{"name":"a","env":[$ENV],"volumeMounts":[$MOUNT]}],"volumes":[$VOL]})")});
  r.push_back({"mode_cni_by_flag_is_recorded",
               with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true"})", R"({"containers":[{"name":"a"}]})"),
               {{"azure.workload.identity/client-id", "client-1"}}, {1, 31},
               with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true","azure.workload.identity/proxy-sidecar-mode":"cni"})",
                                R"({"containers":[{$PROXY_BODY,"env":[$ENV],"volumeMounts":[$MOUNT]},
                                   {"name":"a","env":[$ENV],"volumeMounts":[$MOUNT]}],"volumes":[$VOL]})"),
               0, "", default_mode(ProxyMode::cni)});
  r.push_back({"mode_init_container_annotation_wins_over_the_flag",
               with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true","azure.workload.identity/proxy-sidecar-mode":"init-container"})",
                                R"({"containers":[{"name":"a"}]})"),
               {{"azure.workload.identity/client-id", "client-1"}}, {1, 31},
               with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true","azure.workload.identity/proxy-sidecar-mode":"init-container"})",
                                R"({"containers":[{$PROXY_BODY,"env":[$ENV],"volumeMounts":[$MOUNT]},
                                   {"name":"a","env":[$ENV],"volumeMounts":[$MOUNT]}],"initContainers":[$PROXY_INIT],"volumes":[$VOL]})"),
               0, "", default_mode(ProxyMode::identity_endpoint)});
  r.push_back({"mode_not_recorded_without_the_proxy", kSimplePod, {{"azure.workload.identity/client-id", "client-1"}},
               {1, 33}, kSimpleExpected, 0, "", default_mode(ProxyMode::cni)});
  for (std::string bad : {"sidecar", "", "CNI", " cni", "identity_endpoint"}) {
    r.push_back({"mode_unknown_is_denied_naming_the_valid_ones_" + std::to_string(r.size()),
                 with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true","azure.workload.identity/proxy-sidecar-mode":")" +
                                      bad + R"("})",
                                  R"({"containers":[{"name":"a"}]})"),
                 {}, {1, 33}, "", 400,
                 "invalid value \"" + bad + "\" for annotation azure.workload.identity/proxy-sidecar-mode: expected "
                 "init-container, identity-endpoint or cni"});
  }
  r.push_back({"mode_without_the_proxy_is_denied",
               with_annotations(R"({"azure.workload.identity/proxy-sidecar-mode":"cni"})", R"({"containers":[{"name":"a"}]})"),
               {}, {1, 33}, "", 400, "does not ask for the proxy sidecar: add the annotation azure.workload.identity/inject-proxy-sidecar"});
  r.push_back({"mode_identity_endpoint_refuses_host_network",
               with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true","azure.workload.identity/proxy-sidecar-mode":"identity-endpoint"})",
                                R"({"hostNetwork":true,"containers":[{"name":"a"}]})"),
               {}, {1, 33}, "", 400, "its loopback port would be the node's", secret_1});
  r.push_back({"mode_identity_endpoint_without_a_secret_is_the_webhooks_failure",
               with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true","azure.workload.identity/proxy-sidecar-mode":"identity-endpoint"})",
                                R"({"containers":[{"name":"a"}]})"),
               {}, {1, 33}, "", 500, "cannot draw the pod's IDENTITY_HEADER secret: no randomness",
               [](Config& c) { c.identity_secret = []() -> std::string { throw std::runtime_error("no randomness"); }; }});
  // Malformed pods are refused, never crash.
  r.push_back({"no_spec", R"({"metadata":{"name":"p"}})", {}, {1, 31}, "", 400, "no spec"});
  r.push_back({"containers_not_a_list", R"({"spec":{"containers":{"name":"a"}}})", {}, {1, 31}, "", 400, "not a list"});
  r.push_back({"container_not_an_object", R"({"spec":{"containers":["a"]}})", {}, {1, 31}, "", 400, "not an object"});
  // An unnamed container is named by its real index, as the logs name it.
  r.push_back({"unnamed_container_env_not_a_list_names_its_index",
               R"({"spec":{"containers":[{"name":"a"},{"env":{}}]}})", {}, {1, 31}, "", 400,
               "malformed pod: spec.containers[1]: container #1: env is not a list"});
  r.push_back({"unnamed_container_mounts_not_a_list_names_its_index",
               R"({"spec":{"containers":[{"name":"a"},{"name":"b"},{"volumeMounts":"x"}]}})", {}, {1, 31}, "", 400,
               "container #2: volumeMounts is not a list"});
  r.push_back({"env_not_a_list", R"({"spec":{"containers":[{"name":"a","env":"x"}]}})", {}, {1, 31}, "", 400,
               "spec.containers[0]"});
  r.push_back({"volumes_not_a_list", R"({"spec":{"containers":[{"name":"a"}],"volumes":7}})", {}, {1, 31}, "", 400,
               "volumes"});
  r.push_back({"no_containers_still_gets_volume", R"({"spec":{}})", {}, {1, 31}, R"({"spec":{"volumes":[$VOL]}})"});
  return r;
}

std::string replace_all(std::string text, std::string_view from, std::string_view to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

// A v1.5 row in the v1.6 layout: the same rules must hold with the reserved volume at /var/run/secrets/azure/wi.
Row in_v16_layout(Row row) {
  row.name += "_v16";
  row.layout = TokenLayout::v1_6;
  json::object pod = parse_object(row.pod);
  const json::object* meta = pod.contains("metadata") ? pod.at("metadata").if_object() : nullptr;
  auto field = [&](const char* key) {
    const json::value* v = meta ? meta->if_contains(key) : nullptr;
    return v && v->is_string() ? std::string(v->get_string()) : std::string();
  };
  std::string volume = reserved_volume_name(field("name"), field("generateName"));
  for (std::string* text : {&row.pod, &row.expected}) {
    *text = expand(*text);
    *text = replace_all(*text, R"("name":"azure-identity-token")", R"("name":")" + volume + '"');
    *text = replace_all(*text, R"("path":"azure-identity-token")", R"("path":"token/azure-identity-token")");
    *text = replace_all(*text, "/var/run/secrets/azure/tokens/azure-identity-token",
                        "/var/run/secrets/azure/wi/token/azure-identity-token");
    *text = replace_all(*text, "/var/run/secrets/azure/tokens", "/var/run/secrets/azure/wi");
  }
  return row;
}

// The v1.6 layout's own rules, with volume names computed independently (Python's hashlib).
const std::string kVolP = "azure-workload-identity-reserved-148de9c5a7a44d19e56cd9ae1a554b";         // name "p"
const std::string kVolGenerated = "azure-workload-identity-reserved-275f8a4d9cdcb4342faca30d150d90";  // "web-7d4f9-"
const std::string kEnv16 =
    R"({"name":"AZURE_CLIENT_ID","value":"client-1"},{"name":"AZURE_TENANT_ID","value":"tenant-1"},)"
    R"({"name":"AZURE_FEDERATED_TOKEN_FILE","value":"/var/run/secrets/azure/wi/token/azure-identity-token"},)"
    R"({"name":"AZURE_AUTHORITY_HOST","value":"https://login.microsoftonline.com/"})";
std::string mount16(const std::string& volume) {
  return R"({"name":")" + volume + R"(","mountPath":"/var/run/secrets/azure/wi","readOnly":true})";
}
std::string volume16(const std::string& volume, const std::string& audience = "api://AzureADTokenExchange",
                     const std::string& more_sources = "") {
  return R"({"name":")" + volume + R"(","projected":{"sources":[{"serviceAccountToken":{"path":"token/azure-identity-token",)"
         R"("expirationSeconds":3600,"audience":")" + audience + R"("}})" + more_sources + "]}}";
}

const std::string kBindingAnnotation = R"("azure.workload.identity/use-identity-binding":"true")";
std::string binding_pod(const std::string& spec) {
  return R"({"metadata":{"name":"p","annotations":{)" + kBindingAnnotation + R"(}},"spec":)" + spec + "}";
}

std::vector<Row> v16_rows() {
  std::vector<Row> r;
  for (Row row : rows()) r.push_back(in_v16_layout(std::move(row)));
  const TokenLayout v16 = TokenLayout::v1_6, v15 = TokenLayout::v1_5;
  r.push_back({"v16_volume_named_from_the_pod_name", kSimplePod, {{"azure.workload.identity/client-id", "client-1"}},
               {1, 31},
               R"({"metadata":{"name":"p","labels":{"azure.workload.identity/use":"true"}},
                 "spec":{"serviceAccountName":"app","containers":[{"name":"app","image":"busybox","env":[)" + kEnv16 +
                   R"(],"volumeMounts":[)" + mount16(kVolP) + R"(]}],"volumes":[)" + volume16(kVolP) + "]}}",
               0, "", nullptr, v16});
  r.push_back({"v16_volume_named_from_generate_name",
               R"({"metadata":{"generateName":"web-7d4f9-"},"spec":{"containers":[{"name":"a"}]}})",
               {{"azure.workload.identity/client-id", "client-1"}}, {1, 31},
               R"({"metadata":{"generateName":"web-7d4f9-"},"spec":{"containers":[{"name":"a","env":[)" + kEnv16 +
                   R"(],"volumeMounts":[)" + mount16(kVolGenerated) + R"(]}],"volumes":[)" + volume16(kVolGenerated) + "]}}",
               0, "", nullptr, v16});
  // A pod that already carries the other layout's volume keeps that layout: no second token volume.
  r.push_back({"v16_webhook_keeps_a_v15_volume",
               R"({"metadata":{"name":"p"},"spec":{"containers":[{"name":"a"}],"volumes":[$VOL]}})",
               {{"azure.workload.identity/client-id", "client-1"}}, {1, 31},
               R"({"metadata":{"name":"p"},"spec":{"containers":[{"name":"a","env":[$ENV],"volumeMounts":[$MOUNT]}],"volumes":[$VOL]}})",
               0, "", nullptr, v16});
  r.push_back({"v15_webhook_keeps_a_v16_volume",
               R"({"metadata":{"name":"p"},"spec":{"containers":[{"name":"a"}],"volumes":[)" +
                   volume16("azure-workload-identity-reserved-from-an-older-name") + "]}}",
               {{"azure.workload.identity/client-id", "client-1"}}, {1, 31},
               R"({"metadata":{"name":"p"},"spec":{"containers":[{"name":"a","env":[)" + kEnv16 + R"(],"volumeMounts":[)" +
                   mount16("azure-workload-identity-reserved-from-an-older-name") + R"(]}],"volumes":[)" +
                   volume16("azure-workload-identity-reserved-from-an-older-name") + "]}}",
               0, "", nullptr, v15});
  // The custom token endpoint (upstream v1.6.0, AKS identity bindings).
  const std::string proxy_vars =
      R"({"name":"AZURE_KUBERNETES_TOKEN_PROXY","value":"https://10.0.0.9:8443/base"},)"
      R"({"name":"AZURE_KUBERNETES_SNI_NAME","value":"binding.aks.test"})";
  const std::string ca_file = R"({"name":"AZURE_KUBERNETES_CA_FILE","value":"/var/run/secrets/azure/wi/ca-cert/ca.crt"})";
  const std::map<std::string, std::string> endpoint = {{"AZURE_KUBERNETES_TOKEN_PROXY", "https://10.0.0.9:8443/base"},
                                                        {"AZURE_KUBERNETES_SNI_NAME", "binding.aks.test"}};
  {
    auto vars = endpoint;
    vars.emplace("AZURE_KUBERNETES_CA_CONFIGMAP_NAME", "binding-ca");
    r.push_back({"custom_endpoint_ca_from_a_configmap_reaches_apps_and_sidecar",
                 R"({"metadata":{"name":"p","annotations":{)" + kBindingAnnotation +
                     R"(,"azure.workload.identity/inject-proxy-sidecar":"true"}},"spec":{"containers":[{"name":"a"}]}})",
                 {{"azure.workload.identity/client-id", "client-1"}}, {1, 32},
                 R"({"metadata":{"name":"p","annotations":{)" + kBindingAnnotation +
                     R"(,"azure.workload.identity/inject-proxy-sidecar":"true"}},"spec":{
                   "initContainers":[)" + expand("$PROXY_INIT") +
                     R"(,{)" + expand("$PROXY_BODY") + R"(,"restartPolicy":"Always","env":[)" + kEnv16 + "," + proxy_vars + "," +
                     ca_file + R"(],"volumeMounts":[)" + mount16(kVolP) + R"(]}],
                   "containers":[{"name":"a","env":[)" + kEnv16 + "," + proxy_vars + "," + ca_file +
                     R"(],"volumeMounts":[)" + mount16(kVolP) + R"(]}],"volumes":[)" +
                     volume16(kVolP, "api://AKSIdentityBinding",
                              R"(,{"configMap":{"name":"binding-ca","items":[{"key":"ca.crt","path":"ca-cert/ca.crt"}],"optional":false}})") +
                     "]}}",
                 0, "", custom_endpoint(vars), v16});
  }
  {
    auto vars = endpoint;
    vars.emplace("AZURE_KUBERNETES_CA_CTB_SIGNER_NAME", "aks.azure.com/identity-binding");
    vars.emplace("AZURE_KUBERNETES_CA_CTB_LABEL_SELECTOR", R"({"matchLabels": {"binding": "one"}})");
    r.push_back({"custom_endpoint_ca_from_a_cluster_trust_bundle", binding_pod(R"({"containers":[{"name":"a"}]})"),
                 {{"azure.workload.identity/client-id", "client-1"}}, {1, 31},
                 binding_pod(R"({"containers":[{"name":"a","env":[)" + kEnv16 + "," + proxy_vars + "," + ca_file +
                             R"(],"volumeMounts":[)" + mount16(kVolP) + R"(]}],"volumes":[)" +
                             volume16(kVolP, "api://AKSIdentityBinding",
                                      R"(,{"clusterTrustBundle":{"signerName":"aks.azure.com/identity-binding",)"
                                      R"("labelSelector":{"matchLabels":{"binding":"one"}},"path":"ca-cert/ca.crt","optional":false}})") +
                             "]}"),
                 0, "", custom_endpoint(vars), v16});
  }
  {
    auto vars = endpoint;
    vars.emplace("AZURE_KUBERNETES_CA_DATA", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    r.push_back({"custom_endpoint_ca_data_is_passed_as_is_and_projects_nothing",
                 binding_pod(R"({"containers":[{"name":"a","env":[{"name":"AZURE_KUBERNETES_SNI_NAME","value":"mine"}]}]})"),
                 {{"azure.workload.identity/client-id", "client-1"}}, {1, 31},
                 binding_pod(R"({"containers":[{"name":"a","env":[{"name":"AZURE_KUBERNETES_SNI_NAME","value":"mine"},)" +
                             kEnv16 + R"(,{"name":"AZURE_KUBERNETES_TOKEN_PROXY","value":"https://10.0.0.9:8443/base"},)"
                             R"({"name":"AZURE_KUBERNETES_CA_DATA","value":"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}],)"
                             R"("volumeMounts":[)" + mount16(kVolP) + R"(]}],"volumes":[)" +
                             volume16(kVolP, "api://AKSIdentityBinding") + "]}"),
                 0, "", custom_endpoint(vars), v16});
  }
  for (std::string value : {"false", "yes", ""}) {
    r.push_back({"custom_endpoint_needs_the_annotation_true_" + std::to_string(r.size()),
                 R"({"metadata":{"name":"p","annotations":{"azure.workload.identity/use-identity-binding":")" + value +
                     R"("}},"spec":{"containers":[{"name":"a"}]}})",
                 {{"azure.workload.identity/client-id", "client-1"}}, {1, 31},
                 R"({"metadata":{"name":"p","annotations":{"azure.workload.identity/use-identity-binding":")" + value +
                     R"("}},"spec":{"containers":[{"name":"a","env":[)" + kEnv16 + R"(],"volumeMounts":[)" + mount16(kVolP) +
                     R"(]}],"volumes":[)" + volume16(kVolP) + "]}}",
                 0, "", custom_endpoint(endpoint), v16});
  }
  r.push_back({"custom_endpoint_annotation_is_case_insensitive",
               R"({"metadata":{"name":"p","annotations":{"azure.workload.identity/use-identity-binding":"True"}},"spec":{}})",
               {}, {1, 31},
               R"({"metadata":{"name":"p","annotations":{"azure.workload.identity/use-identity-binding":"True"}},"spec":{"volumes":[)" +
                   volume16(kVolP, "api://AKSIdentityBinding") + "]}}",
               0, "", custom_endpoint(endpoint), v16});
  // Resources of the injected containers: flags' defaults, overridden per pod by annotation.
  {
    const std::string annotations = R"({"azure.workload.identity/inject-proxy-sidecar":"true",
        "azure.workload.identity/proxy-sidecar-resources":"requests.memory=32Mi,limits.cpu=",
        "azure.workload.identity/proxy-init-resources":"limits.memory=128Mi"})";
    const std::string defaults = R"("requests":{"cpu":"10m","memory":"16Mi"},"limits":{"cpu":"200m","memory":"64Mi"})";
    std::string init = replace_all(expand("$PROXY_INIT"), defaults,
                                   R"("requests":{"cpu":"10m","memory":"16Mi"},"limits":{"cpu":"200m","memory":"128Mi"})");
    std::string proxy = replace_all(expand("$PROXY_BODY"), defaults,
                                    R"("requests":{"cpu":"10m","memory":"32Mi"},"limits":{"memory":"64Mi"})");
    r.push_back({"proxy_resources_overridden_by_annotations",
                 with_annotations(annotations, R"({"containers":[{"name":"a"}]})"),
                 {{"azure.workload.identity/client-id", "client-1"}}, {1, 32},
                 with_annotations(annotations, R"({"containers":[{"name":"a","env":[$ENV],"volumeMounts":[$MOUNT]}],
                   "initContainers":[)" + init + ",{" + proxy +
                                                   R"(,"restartPolicy":"Always","env":[$ENV],"volumeMounts":[$MOUNT]}],
                   "volumes":[$VOL]})"),
                 0, "", nullptr, v15});
  }
  {
    // Flags set the defaults; an empty quantity leaves that key out.
    std::string proxy = replace_all(expand("$PROXY_BODY"),
                                    R"("resources":{"requests":{"cpu":"10m","memory":"16Mi"},"limits":{"cpu":"200m","memory":"64Mi"}},)",
                                    R"("resources":{"limits":{"memory":"1Gi"}},)");
    std::string init = replace_all(expand("$PROXY_INIT"),
                                   R"("resources":{"requests":{"cpu":"10m","memory":"16Mi"},"limits":{"cpu":"200m","memory":"64Mi"}},)",
                                   "");
    r.push_back({"proxy_resources_from_flags",
                 with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true"})", R"({"containers":[{"name":"a"}]})"),
                 {{"azure.workload.identity/client-id", "client-1"}}, {1, 31},
                 with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true"})",
                                  R"({"containers":[{)" + proxy + R"(,"env":[$ENV],"volumeMounts":[$MOUNT]},
                   {"name":"a","env":[$ENV],"volumeMounts":[$MOUNT]}],"initContainers":[)" + init + R"(],"volumes":[$VOL]})"),
                 0, "",
                 [](Config& c) {
                   c.proxy_resources = parse_resources("requests.cpu=,requests.memory=,limits.cpu=,limits.memory=1Gi",
                                                       c.proxy_resources);
                   c.proxy_init_resources = parse_resources(
                       "requests.cpu=,requests.memory=,limits.cpu=,limits.memory=", c.proxy_init_resources);
                 },
                 v15});
  }
  for (std::string bad : {"limits.cpu=lots", "cpu=1", "requests.memory", "limits.memory=-1Mi"}) {
    r.push_back({"bad_proxy_resources_annotation_" + std::to_string(r.size()),
                 with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true",
                     "azure.workload.identity/proxy-sidecar-resources":")" + bad + R"("})",
                                  R"({"containers":[{"name":"a"}]})"),
                 {}, {1, 31}, "", 400, "proxy-sidecar-resources"});
  }
  return r;
}

// The pod a row expects. Every pod given the proxy also carries the mode applied (the mode rows spell it out; the
// others leave it implicit: the row's default mode). Only "true" (any case) asks for the proxy.
json::object expected_pod(const Row& row, const Config& config) {
  json::object pod = parse_object(row.expected);
  json::object* meta = pod.if_contains("metadata") ? pod["metadata"].if_object() : nullptr;
  json::object* annotations = meta && meta->if_contains("annotations") ? (*meta)["annotations"].if_object() : nullptr;
  const json::value* inject = annotations ? annotations->if_contains(kInjectProxyAnnotation) : nullptr;
  std::string value = inject && inject->is_string() ? std::string(inject->get_string()) : "";
  for (char& c : value) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (value == "true" && !annotations->contains(kProxyModeAnnotation))
    (*annotations)[kProxyModeAnnotation] = proxy_mode_name(config.proxy_mode);
  return pod;
}

// Keeps test names and failure output readable (the default prints the row's bytes).
void PrintTo(const Row& row, std::ostream* os) { *os << row.name; }

class MutationTable : public ::testing::TestWithParam<Row> {};

TEST_P(MutationTable, ProducesExpectedPodAndIsIdempotent) {
  const Row& row = GetParam();
  Config config = base_config();
  config.token_layout = row.layout;
  if (row.tweak) row.tweak(config);
  json::object pod = parse_object(row.pod);
  Mutation m = mutate_pod(pod, make_sa(row), config, row.version);
  if (row.expected.empty()) {
    EXPECT_FALSE(m.allowed);
    EXPECT_EQ(m.code, row.deny_code);
    EXPECT_NE(m.message.find(row.deny_contains), std::string::npos) << m.message;
    EXPECT_TRUE(m.patch.empty());
    return;
  }
  ASSERT_TRUE(m.allowed) << m.message;
  json::object expected = expected_pod(row, config);
  json::object result = patched(pod, m);
  EXPECT_EQ(json::value(result), json::value(expected)) << "got " << json::serialize(result);
  EXPECT_EQ(m.patch.empty(), pod == expected) << m.patch;
  EXPECT_EQ(m.patch_ops, ops(m).size());

  Mutation again = mutate_pod(result, make_sa(row), config, row.version);
  ASSERT_TRUE(again.allowed);
  EXPECT_TRUE(again.patch.empty()) << "reinvocation changed the pod: " << again.patch;
}

INSTANTIATE_TEST_SUITE_P(Rows, MutationTable, ::testing::ValuesIn(rows()),
                         [](const auto& info) { return info.param.name; });
INSTANTIATE_TEST_SUITE_P(V16, MutationTable, ::testing::ValuesIn(v16_rows()),
                         [](const auto& info) { return info.param.name; });

// Every row's patch, applied by python3-jsonpatch to the original pod, must give the expected pod.
TEST(MutationPatch, IndependentJsonPatchImplementationAgrees) {
  json::array cases;
  std::vector<Row> all = rows(), v16 = v16_rows();
  all.insert(all.end(), v16.begin(), v16.end());
  for (const Row& row : all) {
    if (row.expected.empty()) continue;
    Config config = base_config();
    config.token_layout = row.layout;
    if (row.tweak) row.tweak(config);
    json::object pod = parse_object(row.pod);
    Mutation m = mutate_pod(pod, make_sa(row), config, row.version);
    cases.push_back(json::object{{"name", row.name}, {"original", pod}, {"patch", ops(m)},
                                 {"expected", expected_pod(row, config)}});
  }
  std::string path = ::testing::TempDir() + "/webhook_patch_cases.json";
  {
    std::ofstream out(path);
    out << json::serialize(cases);
  }
  std::string cmd = std::string(DEBIAN_PYTHON) + " " + APPLY_SCRIPT + " " + path + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string output;
  char buf[4096];
  while (std::size_t n = fread(buf, 1, sizeof buf, p)) output.append(buf, n);
  int status = pclose(p);
  EXPECT_EQ(status, 0) << output;
  EXPECT_NE(output.find(std::to_string(cases.size()) + " passed, 0 failed"), std::string::npos) << output;
}

TEST(MutationHelpers, ServiceAccountNameDefaults) {
  EXPECT_EQ(service_account_name(parse_object(R"({"spec":{"serviceAccountName":"x"}})")), "x");
  EXPECT_EQ(service_account_name(parse_object(R"({"spec":{"serviceAccountName":""}})")), "default");
  EXPECT_EQ(service_account_name(parse_object(R"({"spec":{}})")), "default");
  EXPECT_EQ(service_account_name(parse_object(R"({})")), "default");
}

TEST(MutationHelpers, OptInLabel) {
  EXPECT_TRUE(pod_opted_in(parse_object(R"({"metadata":{"labels":{"azure.workload.identity/use":"true"}}})")));
  EXPECT_FALSE(pod_opted_in(parse_object(R"({"metadata":{"labels":{"azure.workload.identity/use":"false"}}})")));
  EXPECT_FALSE(pod_opted_in(parse_object(R"({"metadata":{}})")));
  EXPECT_FALSE(pod_opted_in(parse_object(R"({"metadata":{"labels":[]}})")));
}

TEST(MutationHelpers, NativeSidecarsFrom132) {
  EXPECT_FALSE((ClusterVersion{1, 31}).native_sidecars());
  EXPECT_TRUE((ClusterVersion{1, 32}).native_sidecars());
  EXPECT_FALSE((ClusterVersion{0, 0}).native_sidecars());
}

}  // namespace

namespace {
// A review around a pod, as the API server sends it: with the parts the webhook leaves out when parsing.
std::string review_around(const json::object& pod) {
  json::object noisy = pod;
  if (auto* meta = noisy.if_contains("metadata"); meta && meta->is_object())
    meta->get_object()["managedFields"] = json::parse(R"([{"manager":"kube-controller-manager","fieldsV1":{"f:x":{}}}])");
  noisy["status"] = json::parse(R"({"phase":"Pending","conditions":[{"type":"PodScheduled"}]})");
  json::object review{{"apiVersion", "admission.k8s.io/v1"},
                      {"kind", "AdmissionReview"},
                      {"request", json::object{{"uid", "u-1"},
                                               {"kind", json::object{{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
                                               {"namespace", "ns"},
                                               {"operation", "CREATE"},
                                               {"userInfo", json::object{{"username", "someone"}}},
                                               {"object", noisy},
                                               {"oldObject", nullptr},
                                               {"options", json::object{{"kind", "CreateOptions"}}}}}};
  return json::serialize(review);
}

azwi::webhook::Answer decide_text(const std::string& body, const Row& row, bool whole) {
  auto parsed = azwi::webhook::parse_review(body, {}, whole);
  if (auto* refusal = std::get_if<azwi::webhook::Answer>(&parsed)) return *refusal;
  auto& review = std::get<azwi::webhook::Review>(parsed);
  if (auto early = azwi::webhook::precheck(review)) return *early;
  Config config = base_config();
  if (row.tweak) row.tweak(config);
  azwi::kube::FetchResult hit;
  hit.sa = std::make_shared<const azwi::kube::ServiceAccount>(make_sa(row));
  return azwi::webhook::decide(review, hit, config, row.version);
}
}  // namespace

TEST(MutationTable, TheAnswerIsTheSameWhenParsingLeavesOutUnreadParts) {
  for (const Row& row : rows()) {
    json::object pod = parse_object(row.pod);
    // The label the webhook's selector needs, so that every row reaches the mutation.
    if (!pod.contains("metadata")) pod["metadata"] = json::object();
    if (pod["metadata"].is_object()) pod["metadata"].get_object()["labels"] = json::object{{"azure.workload.identity/use", "true"}};
    std::string body = review_around(pod);
    auto pruned = decide_text(body, row, false);
    auto whole = decide_text(body, row, true);
    EXPECT_EQ(pruned.result, whole.result) << row.name;
    EXPECT_EQ(pruned.body, whole.body) << row.name;
  }
}

TEST(MutationSkip, AnUnnamedContainerIsNotSkippedByItsPosition) {
  // "#0" is how logs show an unnamed first container; skipping by it would break when the proxy is inserted first.
  json::object pod = parse_object(R"({"metadata":{"annotations":{"azure.workload.identity/inject-proxy-sidecar":"true",
      "azure.workload.identity/skip-containers":"#0"}},"spec":{"containers":[{"env":null}]}})");
  Row row;
  Mutation first = mutate_pod(pod, make_sa(row), base_config(), {1, 31});
  ASSERT_TRUE(first.allowed) << first.message;
  json::object result = patched(pod, first);
  const json::array& containers = result.at("spec").at("containers").as_array();
  ASSERT_EQ(containers.size(), 2u);
  EXPECT_TRUE(containers[1].as_object().at("env").is_array()) << "the unnamed container gets the identity";
  Mutation again = mutate_pod(result, make_sa(row), base_config(), {1, 31});
  ASSERT_TRUE(again.allowed);
  EXPECT_TRUE(again.patch.empty()) << again.patch;
}

TEST(MutationProxyMode, TellsWhichModeItApplied) {
  Config config = base_config();
  json::object plain = parse_object(kSimplePod);
  EXPECT_EQ(mutate_pod(plain, make_sa(Row{}), config, {1, 33}).proxy_mode, "");
  json::object pod = parse_object(with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true"})",
                                                   R"({"containers":[{"name":"a"}]})"));
  EXPECT_EQ(mutate_pod(pod, make_sa(Row{}), config, {1, 33}).proxy_mode, "init-container");
  config.proxy_mode = ProxyMode::cni;
  Mutation m = mutate_pod(pod, make_sa(Row{}), config, {1, 33});
  EXPECT_EQ(m.proxy_mode, "cni");
  // Reinvoked on its own output (annotation now present): the same mode, nothing to add.
  Mutation again = mutate_pod(patched(pod, m), make_sa(Row{}), base_config(), {1, 33});
  EXPECT_EQ(again.proxy_mode, "cni");
  EXPECT_TRUE(again.patch.empty());
}

TEST(MutationProxyMode, NamesParseExactly) {
  for (std::string_view name : kProxyModeNames) EXPECT_EQ(proxy_mode_name(*parse_proxy_mode(name)), name);
  EXPECT_FALSE(parse_proxy_mode("Init-Container"));
  EXPECT_FALSE(parse_proxy_mode(""));
}

// With the webhook's own source of secrets: each pod its own, shared by its sidecar and its application containers.
TEST(MutationProxyMode, IdentityEndpointSecretIsFreshPerPodAndTheSidecarsToo) {
  Config config = base_config();
  config.proxy_mode = ProxyMode::identity_endpoint;
  json::object pod = parse_object(with_annotations(R"({"azure.workload.identity/inject-proxy-sidecar":"true"})",
                                                   R"({"containers":[{"name":"a"},{"name":"b"}]})"));
  std::set<std::string> seen;
  for (int i = 0; i < 3; ++i) {
    Mutation m = mutate_pod(pod, make_sa(Row{}), config, {1, 33});
    ASSERT_TRUE(m.allowed) << m.message;
    std::set<std::string> in_pod;
    const json::object result = patched(pod, m);
    for (std::string_view key : {"initContainers", "containers"})
      for (const auto& c : result.at("spec").at(key).as_array())
        for (const auto& e : c.at("env").as_array())
          if (e.at("name") == "IDENTITY_HEADER") in_pod.insert(std::string(e.at("value").as_string()));
    ASSERT_EQ(in_pod.size(), 1u) << "containers disagree on the secret";
    const std::string& secret = *in_pod.begin();
    EXPECT_GE(secret.size(), 43u) << secret;  // 256 bits
    EXPECT_TRUE(seen.insert(secret).second) << "two pods got the same secret";
  }
}
