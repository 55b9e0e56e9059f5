#include "cni/installer.hpp"

#include <openssl/evp.h>
#include <sys/stat.h>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "cni/conflist.hpp"
#include "cni/plugin.hpp"
#include "common/files.hpp"
#include "kube/client.hpp"
#include "kube/cluster_config.hpp"

namespace azwi::cni {
namespace fs = std::filesystem;
namespace json = boost::json;
namespace {

// Writes through a temporary file and a rename, so that the runtime never reads half a file; only when the content
// differs. Returns the error, or empty; `changed` says whether it wrote.
std::string write_if_changed(const std::string& path, const std::string& content, fs::perms mode, bool* changed) {
  *changed = false;
  if (auto current = read_file(path); current && *current == content) return "";
  const std::string tmp = path + ".azwi-tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
    out.close();
    if (!out) return "cannot write " + tmp;
  }
  std::error_code ec;
  fs::permissions(tmp, mode, ec);
  if (ec || std::rename(tmp.c_str(), path.c_str()) != 0) {
    fs::remove(tmp, ec);
    return "cannot replace " + path;
  }
  *changed = true;
  return "";
}

// The same bytes, read in small pieces: the agent runs in a few MiB, and the plugin binary is bigger than that.
bool same_content(const std::string& a, const std::string& b) {
  std::error_code ec;
  if (fs::file_size(a, ec) != fs::file_size(b, ec) || ec) return false;
  std::ifstream x(a, std::ios::binary), y(b, std::ios::binary);
  char bx[16384], by[16384];
  while (x && y) {
    x.read(bx, sizeof bx);
    y.read(by, sizeof by);
    if (x.gcount() != y.gcount() || std::memcmp(bx, by, static_cast<std::size_t>(x.gcount())) != 0) return false;
  }
  return x.eof() && y.eof();
}

// Copies through a temporary file and a rename (a runtime executing the old binary keeps its copy), only when the
// content differs.
std::string copy_if_changed(const std::string& from, const std::string& to, fs::perms mode, bool* changed) {
  *changed = false;
  if (same_content(from, to)) return "";
  const std::string tmp = to + ".azwi-tmp";
  std::error_code ec;
  fs::copy_file(from, tmp, fs::copy_options::overwrite_existing, ec);
  if (!ec) fs::permissions(tmp, mode, ec);
  if (ec || std::rename(tmp.c_str(), to.c_str()) != 0) {
    fs::remove(tmp, ec);
    return "cannot copy " + from + " to " + to;
  }
  *changed = true;
  return "";
}

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(n > 0 ? n : 0);
  return out;
}

std::vector<std::string> config_names(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file(ec)) names.push_back(e.path().filename().string());
  return names;
}

}  // namespace

Installer::Installer(InstallerOptions options, log::Logger log) : options_(std::move(options)), log_(std::move(log)) {}

std::string Installer::sync() {
  bool changed = false;
  // The binary.
  const std::string plugin_path = options_.bin_dir + "/" + std::string(kPluginType);
  if (auto e = copy_if_changed(options_.binary, plugin_path, fs::perms(0755), &changed); !e.empty()) return e;
  if (changed) log_.info("installed the plugin binary", {{"path", plugin_path}});

  // The kubeconfig: the agent's token (never logged) and CA.
  auto token = read_file(options_.account_dir + "/token");
  auto ca = read_file(options_.account_dir + "/ca.crt");
  if (!token || token->empty() || !ca)
    return "no service-account token or ca.crt in " + options_.account_dir +
           " (the DaemonSet's pod must mount its service account)";
  const std::string kubeconfig =
      "apiVersion: v1\nkind: Config\nclusters:\n- name: cluster\n  cluster:\n    server: " + options_.api_server +
      "\n    certificate-authority-data: " + base64(*ca) +
      "\nusers:\n- name: azwi-cni\n  user:\n    token: " + *token +
      "\ncontexts:\n- name: azwi-cni\n  context: {cluster: cluster, user: azwi-cni}\ncurrent-context: azwi-cni\n";
  const std::string kubeconfig_path = options_.conf_dir + "/" + kKubeconfigName;
  if (auto e = write_if_changed(kubeconfig_path, kubeconfig, fs::perms(0600), &changed); !e.empty()) return e;
  if (changed) log_.info("wrote the plugin's kubeconfig (the agent's token, rotated by the kubelet)", {{"path", kubeconfig_path}});

  // The chain: the primary's configuration with azwi-cni appended, in a file of its own that the runtime reads first.
  std::vector<std::string> names = config_names(options_.conf_dir);
  std::erase(names, std::string(kConflistName));
  auto primary = chosen_config(names);
  if (!primary)
    return "no network configuration (*.conflist, *.conf, *.json) in " + options_.conf_dir +
           " yet; azwi-cni is chained after the node's primary CNI, which writes one";
  if (*primary < kConflistName)
    return "the network configuration " + *primary + " sorts before " + kConflistName +
           ", so the runtime would not read azwi-cni's; rename it to sort after";
  const std::string primary_path = options_.conf_dir + "/" + *primary;
  auto text = read_file(primary_path);
  if (!text) return "cannot read " + primary_path;
  json::object entry;
  entry["type"] = kPluginType;
  entry[kKubeconfigKey] = options_.host_conf_dir + "/" + kKubeconfigName;
  json::array excluded;
  for (const auto& ns : options_.exclude_namespaces) excluded.emplace_back(ns);
  entry[kExcludeNamespacesKey] = std::move(excluded);
  Chained chained = with_plugin(*text, entry);
  if (!chained.error.empty()) return "cannot chain azwi-cni after " + primary_path + ": " + chained.error;
  const std::string path = options_.conf_dir + "/" + kConflistName;
  if (auto e = write_if_changed(path, chained.text, fs::perms(0644), &changed); !e.empty()) return e;
  if (changed) log_.info("wrote the node's plugin chain with azwi-cni appended", {{"conflist", path}, {"primary", primary_path}});
  return "";
}

std::string Installer::uninstall() {
  std::string problems;
  std::error_code ec;
  for (const std::string& path : {options_.conf_dir + "/" + kConflistName, options_.conf_dir + "/" + kKubeconfigName,
                                  options_.bin_dir + "/" + std::string(kPluginType)})
    if (fs::remove(path, ec); ec) problems += "cannot remove " + path + ": " + ec.message() + "; ";
  if (problems.empty()) log_.info("uninstalled: the plugin chain, the kubeconfig and the plugin are gone");
  return problems;
}

StaysInstalled daemonset_stays(const std::string& account_dir, const std::string& name) {
  return [account_dir, name](std::string* why) {
    try {
      auto ns = read_file(account_dir + "/namespace");
      if (!ns || ns->empty()) {
        *why = "no namespace file in " + account_dir;
        return false;
      }
      kube::ApiClient client(kube::in_cluster_config(account_dir));
      auto r = client.request("GET", "/apis/apps/v1/namespaces/" + *ns + "/daemonsets/" + name);
      if (!r.error.empty() || r.status != 200) {
        *why = r.status == 404 ? "the DaemonSet " + *ns + "/" + name + " is gone"
                               : "cannot read the DaemonSet " + *ns + "/" + name + ": " +
                                     (r.error.empty() ? "HTTP " + std::to_string(r.status) : r.error);
        return false;
      }
      json::error_code ec;
      json::value ds = json::parse(r.body, ec);
      const json::value* meta = ec || !ds.is_object() ? nullptr : ds.get_object().if_contains("metadata");
      if (!meta || !meta->is_object()) {
        *why = "the API server's answer is not a DaemonSet";
        return false;
      }
      if (meta->get_object().contains("deletionTimestamp")) {
        *why = "the DaemonSet " + *ns + "/" + name + " is being deleted";
        return false;
      }
      *why = "the DaemonSet " + *ns + "/" + name + " stays; its next pod takes over";
      return true;
    } catch (const std::exception& e) {
      *why = e.what();
      return false;
    }
  };
}

int run_installer(const InstallerOptions& options, const std::atomic<bool>& stop, const StaysInstalled& stays,
                  const log::Logger& log) {
  Installer installer(options, log);
  log.info("starting", {{"bin_dir", options.bin_dir}, {"conf_dir", options.conf_dir},
                        {"host_conf_dir", options.host_conf_dir}, {"api_server", options.api_server}});
  std::string last_problem = "not synced yet";  // so that the first success is logged
  while (!stop) {
    std::string problem = installer.sync();
    if (problem != last_problem) {
      if (problem.empty()) log.info("in place: the plugin, its kubeconfig and its conflist entry");
      else log.warn("cannot install azwi-cni yet; retrying", {{"problem", problem}});
      last_problem = problem;
    }
    // Waits in short steps, so that SIGTERM is answered within a fraction of a second.
    for (auto waited = std::chrono::milliseconds(0); waited < options.interval && !stop;
         waited += std::chrono::milliseconds(100))
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::string why;
  if (stays(&why)) {
    log.info("stopping, and leaving the plugin, its kubeconfig and the chain in place", {{"reason", why}});
    return 0;
  }
  log.info("stopping and uninstalling", {{"reason", why}});
  std::string problem = installer.uninstall();
  if (!problem.empty()) {
    log.error("uninstall incomplete", {{"problem", problem}});
    return 1;
  }
  return 0;
}

}  // namespace azwi::cni
