#include "kube/cluster_config.hpp"

#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "common/env.hpp"

namespace azwi::kube {
namespace fs = std::filesystem;

namespace {
std::string host_for_url(const std::string& host) {
  // An IPv6 literal needs brackets in a URL.
  return host.find(':') != std::string::npos && host.front() != '[' ? "[" + host + "]" : host;
}

std::string base64_decode(const std::string& text, const std::string& what) {
  std::string clean;
  for (char c : text)
    if (!std::isspace(static_cast<unsigned char>(c))) clean += c;
  if (clean.size() % 4 != 0) throw std::runtime_error(what + " is not valid base64");
  std::string out(clean.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(clean.data()), static_cast<int>(clean.size()));
  if (n < 0) throw std::runtime_error(what + " is not valid base64");
  std::size_t pad = clean.ends_with("==") ? 2 : clean.ends_with("=") ? 1 : 0;
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

YAML::Node named(const YAML::Node& list, const std::string& name, const std::string& what, const std::string& file) {
  if (list && list.IsSequence())
    for (const auto& item : list)
      if (item["name"] && item["name"].as<std::string>() == name) return item[what];
  throw std::runtime_error(file + ": no " + what + " named \"" + name + "\"");
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

ClusterConfig kubeconfig_config(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot read kubeconfig " + path + ": " + e.what());
  }
  try {
    fs::path base = fs::path(path).parent_path();
    auto resolve = [&](const std::string& file) {
      if (file.empty() || fs::path(file).is_absolute()) return file;
      return (base / file).string();
    };
    std::string context_name = get(root, "current-context");
    if (context_name.empty()) throw std::runtime_error(path + ": current-context is not set");
    YAML::Node context = named(root["contexts"], context_name, "context", path);
    YAML::Node cluster = named(root["clusters"], get(context, "cluster"), "cluster", path);
    YAML::Node user = named(root["users"], get(context, "user"), "user", path);

    ClusterConfig c;
    c.source = path;
    c.server = get(cluster, "server");
    if (c.server.empty()) throw std::runtime_error(path + ": the cluster has no server");
    while (c.server.ends_with('/')) c.server.pop_back();
    c.ca_file = resolve(get(cluster, "certificate-authority"));
    if (auto data = get(cluster, "certificate-authority-data"); !data.empty())
      c.ca_pem = base64_decode(data, "certificate-authority-data");
    c.insecure_skip_verify = get(cluster, "insecure-skip-tls-verify") == "true";

    c.token = get(user, "token");
    c.token_file = resolve(get(user, "tokenFile"));
    c.client_cert_file = resolve(get(user, "client-certificate"));
    c.client_key_file = resolve(get(user, "client-key"));
    if (auto data = get(user, "client-certificate-data"); !data.empty())
      c.client_cert_pem = base64_decode(data, "client-certificate-data");
    if (auto data = get(user, "client-key-data"); !data.empty())
      c.client_key_pem = base64_decode(data, "client-key-data");
    bool has_cert = !c.client_cert_file.empty() || !c.client_cert_pem.empty();
    bool has_key = !c.client_key_file.empty() || !c.client_key_pem.empty();
    if (has_cert != has_key) throw std::runtime_error(path + ": a client certificate needs its key, and a key its certificate");
    if (c.token.empty() && c.token_file.empty() && !has_cert) {
      for (const char* unsupported : {"exec", "auth-provider", "username"})
        if (user && user[unsupported])
          throw std::runtime_error(path + ": user authentication by \"" + std::string(unsupported) +
                                   "\" is not supported; use a token, tokenFile or a client certificate");
    }
    return c;
  } catch (const YAML::Exception& e) {
    throw std::runtime_error("kubeconfig " + path + " is malformed: " + e.what());
  }
}

ClusterConfig resolve_cluster_config(const std::string& kubeconfig_flag) {
  if (!kubeconfig_flag.empty()) return kubeconfig_config(kubeconfig_flag);
  if (auto from_env = env("KUBECONFIG")) return kubeconfig_config(*from_env);
  return in_cluster_config();
}

}  // namespace azwi::kube
