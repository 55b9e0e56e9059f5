#pragma once
// How to reach the Kubernetes API server: in-cluster (service environment, mounted token and CA) or a kubeconfig
// (token or client certificate, CA), as client-go resolves them.
#include <chrono>
#include <string>

namespace azwi::kube {

inline constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

struct ClusterConfig {
  std::string server;  // https://host:port, no trailing slash
  std::string source;  // "in-cluster" or the kubeconfig path, for messages
  std::string ca_file;
  std::string ca_pem;
  bool insecure_skip_verify = false;
  std::string token;       // a fixed bearer token
  std::string token_file;  // a bearer token re-read as the kubelet rotates it
  std::chrono::milliseconds token_reload{60'000};
  std::string client_cert_file, client_key_file;
  std::string client_cert_pem, client_key_pem;
};

// KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT and the token and ca.crt in `account_dir`.
// Throws std::runtime_error saying what is missing.
ClusterConfig in_cluster_config(const std::string& account_dir = kServiceAccountDir);

// The current context of a kubeconfig file. Throws std::runtime_error naming the file and the problem.
ClusterConfig kubeconfig_config(const std::string& path);

// $KUBECONFIG's form: files separated by ':', merged as kubectl merges them (the first file to set current-context or
// to define a cluster, user or context of a given name wins; files that do not exist are skipped). Throws
// std::runtime_error when no file exists or the merged configuration is unusable.
ClusterConfig kubeconfig_list_config(const std::string& list);

// --kubeconfig (one file) if given, else $KUBECONFIG (a list), else in-cluster.
ClusterConfig resolve_cluster_config(const std::string& kubeconfig_flag);

}  // namespace azwi::kube
