#include "cni/plugin.hpp"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "cni/pod.hpp"
#include "kube/client.hpp"
#include "kube/cluster_config.hpp"

namespace azwi::cni {
namespace json = boost::json;
namespace {

Reply error_reply(const Request& request, const Error& e, const log::Logger& log) {
  log.error(e.msg, {{"code", e.code},
                    {"details", e.details},
                    {"container_id", request.container_id},
                    {"pod", request.arg("K8S_POD_NAMESPACE") + "/" + request.arg("K8S_POD_NAME")}});
  return {1, error_json(e, request.cni_version)};
}

// Namespace and pod names are DNS labels or subdomains; anything else must not reach a URL path.
bool is_object_name(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
  return true;
}

std::string string_key(const Request& r, std::string_view key) {
  const json::value* v = r.config.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

bool excluded(const Request& r, std::string_view ns) {
  const json::value* v = r.config.if_contains(kExcludeNamespacesKey);
  if (!v || !v->is_array()) return false;
  for (const auto& item : v->get_array())
    if (item.is_string() && item.get_string() == ns) return true;
  return false;
}

Reply add_or_check(const Request& r, const PluginHost& host, const log::Logger& log) {
  const bool check = r.command == Command::check;
  if (check && (r.cni_version.rfind("0.3.", 0) == 0))
    return error_reply(r, {kIncompatibleVersion, "CHECK needs cniVersion 0.4.0 or later", "got " + r.cni_version}, log);
  if (!r.prev_result)
    return error_reply(r, {kInvalidNetworkConfig, "azwi-cni is a chained plugin and got no prevResult",
                           "list it after the plugin that creates the pod's interface (e.g. bridge) in the conflist"},
                       log);
  const std::string ns = r.arg("K8S_POD_NAMESPACE"), name = r.arg("K8S_POD_NAME");
  if (ns.empty() || name.empty()) {
    log.info("not a Kubernetes pod (no K8S_POD_NAMESPACE/K8S_POD_NAME in CNI_ARGS): passing through",
             {{"container_id", r.container_id}});
    return {0, prev_result_json(r)};
  }
  if (!is_object_name(ns) || !is_object_name(name))
    return error_reply(r, {kInvalidEnvironment, "CNI_ARGS names a pod that is not a valid Kubernetes name",
                           "K8S_POD_NAMESPACE and K8S_POD_NAME must be DNS names"},
                       log);
  if (excluded(r, ns)) {
    log.debug("namespace excluded: passing through", {{"pod", ns + "/" + name}});
    return {0, prev_result_json(r)};
  }
  const std::string kubeconfig = string_key(r, kKubeconfigKey);
  if (kubeconfig.empty())
    return error_reply(r, {kInvalidNetworkConfig, "the azwi-cni entry of the conflist has no \"kubeconfig\"",
                           "the azwi-cni installer writes it; reinstall the azwi-cni DaemonSet"},
                       log);

  PodLookup lookup = host.get_pod(kubeconfig, ns, name);
  if (lookup.status == PodLookup::Status::failed)
    return error_reply(r, {kTryAgainLater,
                           "cannot ask the API server whether pod " + ns + "/" + name +
                               " wants the IMDS redirect, so its sandbox is not started without it: " + lookup.error,
                           "check that the API server is reachable from the node and that the azwi-cni installer "
                           "keeps " + kubeconfig + " current; the kubelet retries"},
                       log);
  if (lookup.status == PodLookup::Status::refused)
    return error_reply(r, {kPodUnreadable, "the API server did not give pod " + ns + "/" + name + ": " + lookup.error,
                           "the azwi-cni service account needs get on pods (the chart's ClusterRole azwi-cni)"},
                       log);
  auto decision = redirect_for_pod(lookup.pod);
  if (auto* problem = std::get_if<std::string>(&decision))
    return error_reply(r, {kPodUnreadable, "pod " + ns + "/" + name + ": " + *problem, ""}, log);
  const PodRedirect& redirect = std::get<PodRedirect>(decision);
  if (!redirect.wanted) {
    log.debug("the pod did not ask for the cni redirect: passing through",
              {{"pod", ns + "/" + name}, {"mode", redirect.mode}});
    return {0, prev_result_json(r)};
  }

  if (std::string problem = host.enter_netns(r.netns); !problem.empty())
    return error_reply(r, {kIoFailure, "cannot enter the pod's network namespace " + r.netns + ": " + problem, ""},
                       log);
  netredirect::Options options;
  options.check = check;
  netredirect::RedirectResult outcome = netredirect::redirect(options, redirect.config, host.redirect, log);
  if (outcome.exit_code != netredirect::kExitOk)
    return error_reply(r, {kRedirectFailed,
                           std::string(check ? "the IMDS redirect of pod " : "cannot install the IMDS redirect of pod ") +
                               ns + "/" + name + ": " + outcome.failure.message,
                           outcome.failure.hint},
                       log);
  log.info(check ? "the IMDS redirect is in place" : "installed the IMDS redirect",
           {{"pod", ns + "/" + name}, {"container_id", r.container_id}, {"proxy_port", redirect.config.proxy_port}});
  return {0, prev_result_json(r)};
}

PodLookup get_pod(const std::string& kubeconfig, const std::string& ns, const std::string& name) {
  PodLookup out;
  try {
    kube::ApiClient client(kube::kubeconfig_config(kubeconfig));
    auto response = client.request("GET", "/api/v1/namespaces/" + ns + "/pods/" + name);
    if (!response.error.empty()) {
      out.error = response.error;
      return out;
    }
    if (response.status != 200) {
      out.status = response.status >= 500 || response.status == 429 ? PodLookup::Status::failed
                                                                      : PodLookup::Status::refused;
      out.error = "HTTP " + std::to_string(response.status);
      json::error_code ec;
      json::value body = json::parse(response.body, ec);
      if (!ec && body.is_object())
        if (const json::value* m = body.get_object().if_contains("message"); m && m->is_string())
          out.error += ": " + std::string(m->get_string());
      return out;
    }
    json::error_code ec;
    out.pod = json::parse(response.body, ec);
    if (ec) {
      out.status = PodLookup::Status::refused;
      out.error = "the answer is not JSON (" + ec.message() + ")";
      return out;
    }
    out.status = PodLookup::Status::found;
  } catch (const std::exception& e) {
    out.error = e.what();
  }
  return out;
}

std::string enter_netns(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::strerror(errno);
  int rc = ::setns(fd, CLONE_NEWNET);
  int err = errno;
  ::close(fd);
  return rc == 0 ? std::string() : std::string("setns: ") + std::strerror(err);
}

}  // namespace

PluginHost system_plugin_host() {
  PluginHost h;
  h.get_pod = get_pod;
  h.enter_netns = enter_netns;
  h.redirect = netredirect::system_host();
  return h;
}

Reply run_plugin(const Request& r, const PluginHost& host, const log::Logger& log) {
  switch (r.command) {
    case Command::version:
      return {0, version_json(r.cni_version)};
    case Command::add:
    case Command::check:
      return add_or_check(r, host, log);
    case Command::del:
      // The rules live in the pod's network namespace and go with it; DEL has nothing to release (and must not
      // depend on the API server, which may no longer know the pod).
      log.debug("DEL: nothing to release", {{"container_id", r.container_id}});
      return {0, ""};
    case Command::status:
    case Command::gc:
      return {0, ""};  // nothing held outside pods' namespaces; ready whenever the binary runs
  }
  return {0, ""};
}

Reply handle(const EnvLookup& env, std::string_view stdin_text, const PluginHost& host, const log::Logger& log) {
  auto request = parse_request(env, stdin_text);
  if (auto* e = std::get_if<Error>(&request)) {
    Request partial;  // the reply is still in the configuration's version when it has a readable one
    json::error_code ec;
    json::value config = json::parse(stdin_text, ec);
    if (const json::object* o = ec ? nullptr : config.if_object())
      if (const json::value* v = o->if_contains("cniVersion"); v && v->is_string())
        partial.cni_version = std::string(v->get_string());
    return error_reply(partial, *e, log);
  }
  return run_plugin(std::get<Request>(request), host, log);
}

}  // namespace azwi::cni
