#include "kube/cluster_config.hpp"

#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "common/base64.hpp"
#include "common/env.hpp"

namespace azwi::kube {
namespace fs = std::filesystem;

namespace {
std::string host_for_url(const std::string& host) {
  // An IPv6 literal needs brackets in a URL.
  return host.find(':') != std::string::npos && host.front() != '[' ? "[" + host + "]" : host;
}

std::string decode_data(const std::string& text, const std::string& what) {
  auto out = base64_decode(text);
  if (!out) throw std::runtime_error(what + " is not valid base64");
  return *std::move(out);
}

std::string get(const YAML::Node& n, const char* key) {
  return n && n[key] && n[key].IsScalar() ? n[key].as<std::string>() : std::string();
}
}  // namespace

ClusterConfig in_cluster_config(const std::string& dir) {
  auto host = env("KUBERNETES_SERVICE_HOST");
  auto port = env("KUBERNETES_SERVICE_PORT");
  if (!host || !port)
    throw std::runtime_error(
        "not running in a cluster (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set): pass --kubeconfig");
  ClusterConfig c;
  c.source = "in-cluster";
  c.server = "https://" + host_for_url(*host) + ":" + *port;
  c.token_file = dir + "/token";
  c.ca_file = dir + "/ca.crt";
  for (const auto& f : {c.token_file, c.ca_file})
    if (!fs::exists(f)) throw std::runtime_error("in-cluster configuration: " + f + " does not exist");
  return c;
}

namespace {
// One file of a kubeconfig list; relative paths in an entry are relative to the file that holds the entry.
struct KubeconfigFile {
  std::string path;
  YAML::Node root;
};

struct Entry {
  YAML::Node node;
  fs::path base;
};

// The first entry of that name in any file, as client-go merges a list: the first file to define a name wins.
Entry named(const std::vector<KubeconfigFile>& files, const char* list_key, const char* what, const std::string& name,
            const std::string& source) {
  for (const auto& f : files) {
    const YAML::Node list = f.root[list_key];
    if (!list || !list.IsSequence()) continue;
    for (const auto& item : list)
      if (item["name"] && item["name"].as<std::string>() == name) return {item[what], fs::path(f.path).parent_path()};
  }
  throw std::runtime_error(source + ": no " + std::string(what) + " named \"" + name + "\"");
}

ClusterConfig from_files(const std::vector<KubeconfigFile>& files, const std::string& source) {
  try {
    std::string context_name;
    for (const auto& f : files)
      if (context_name.empty()) context_name = get(f.root, "current-context");
    if (context_name.empty()) throw std::runtime_error(source + ": current-context is not set");
    Entry context = named(files, "contexts", "context", context_name, source);
    Entry cluster = named(files, "clusters", "cluster", get(context.node, "cluster"), source);
    Entry user = named(files, "users", "user", get(context.node, "user"), source);
    auto resolve = [](const Entry& e, const char* key) {
      std::string file = get(e.node, key);
      if (file.empty() || fs::path(file).is_absolute()) return file;
      return (e.base / file).string();
    };

    ClusterConfig c;
    c.source = source;
    c.server = get(cluster.node, "server");
    if (c.server.empty()) throw std::runtime_error(source + ": the cluster has no server");
    while (c.server.ends_with('/')) c.server.pop_back();
    c.ca_file = resolve(cluster, "certificate-authority");
    if (auto data = get(cluster.node, "certificate-authority-data"); !data.empty())
      c.ca_pem = decode_data(data, "certificate-authority-data");
    c.insecure_skip_verify = get(cluster.node, "insecure-skip-tls-verify") == "true";

    c.token = get(user.node, "token");
    c.token_file = resolve(user, "tokenFile");
    c.client_cert_file = resolve(user, "client-certificate");
    c.client_key_file = resolve(user, "client-key");
    if (auto data = get(user.node, "client-certificate-data"); !data.empty())
      c.client_cert_pem = decode_data(data, "client-certificate-data");
    if (auto data = get(user.node, "client-key-data"); !data.empty())
      c.client_key_pem = decode_data(data, "client-key-data");
    bool has_cert = !c.client_cert_file.empty() || !c.client_cert_pem.empty();
    bool has_key = !c.client_key_file.empty() || !c.client_key_pem.empty();
    if (has_cert != has_key)
      throw std::runtime_error(source + ": a client certificate needs its key, and a key its certificate");
    if (c.token.empty() && c.token_file.empty() && !has_cert) {
      for (const char* unsupported : {"exec", "auth-provider", "username"})
        if (user.node && user.node[unsupported])
          throw std::runtime_error(source + ": user authentication by \"" + std::string(unsupported) +
                                   "\" is not supported; use a token, tokenFile or a client certificate");
    }
    return c;
  } catch (const YAML::Exception& e) {
    throw std::runtime_error("kubeconfig " + source + " is malformed: " + e.what());
  }
}

KubeconfigFile load(const std::string& path) {
  try {
    return {path, YAML::LoadFile(path)};
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot read kubeconfig " + path + ": " + e.what());
  }
}
}  // namespace

ClusterConfig kubeconfig_config(const std::string& path) { return from_files({load(path)}, path); }

ClusterConfig kubeconfig_list_config(const std::string& list) {
  std::vector<KubeconfigFile> files;
  std::string_view rest = list;
  while (!rest.empty()) {
    auto colon = rest.find(':');
    std::string path(rest.substr(0, colon));
    rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
    // As kubectl: empty entries and files that do not exist are skipped; a file that exists must be readable.
    if (path.empty() || !fs::exists(path)) continue;
    files.push_back(load(path));
  }
  if (files.empty()) throw std::runtime_error("KUBECONFIG=" + list + ": none of its files exists");
  return from_files(files, files.size() == 1 ? files.front().path : "KUBECONFIG=" + list);
}

ClusterConfig resolve_cluster_config(const std::string& kubeconfig_flag) {
  if (!kubeconfig_flag.empty()) return kubeconfig_config(kubeconfig_flag);
  if (auto from_env = env("KUBECONFIG"); from_env && !from_env->empty()) return kubeconfig_list_config(*from_env);
  return in_cluster_config();
}

}  // namespace azwi::kube
