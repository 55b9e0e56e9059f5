#include "cli/doctor.hpp"

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <algorithm>
#include <sstream>

#include "cli/aadsts.hpp"
#include "cli/json_access.hpp"
#include "cli/service_account_token.hpp"
#include "http/client_types.hpp"
#include "jwt/jws.hpp"
#include "kube/client.hpp"
#include "webhook/config.hpp"
#include "webhook/mutation.hpp"

namespace azwi::cli {
namespace json = boost::json;

namespace {

using webhook::kClientIdAnnotation;
using webhook::kInjectProxyAnnotation;
using webhook::kProxyInitName;
using webhook::kProxyModeAnnotation;
using webhook::kProxyName;
using webhook::kSkipContainersAnnotation;
using webhook::kTenantIdAnnotation;
using webhook::kUseLabel;

std::string q(std::string_view s) { return "\"" + std::string(s) + "\""; }

// Every container of the pod spec (init containers first), with whether it is an init container.
std::vector<std::pair<const json::object*, bool>> containers(const json::object& spec) {
  std::vector<std::pair<const json::object*, bool>> out;
  for (auto* list : {"initContainers", "containers"})
    if (auto* a = array_at(spec, list))
      for (const auto& c : *a)
        if (c.is_object()) out.emplace_back(&c.get_object(), std::string_view(list) == "initContainers");
  return out;
}

const json::object* container_named(const json::object& spec, std::string_view name) {
  for (auto [c, init] : containers(spec))
    if (string_at(*c, "name") == name) return c;
  return nullptr;
}

std::string env_value(const json::object& container, std::string_view name) {
  if (auto* env = array_at(container, "env"))
    for (const auto& e : *env)
      if (e.is_object() && string_at(e.get_object(), "name") == name) return string_at(e.get_object(), "value");
  return {};
}
bool has_env(const json::object& container, std::string_view name) {
  if (auto* env = array_at(container, "env"))
    for (const auto& e : *env)
      if (e.is_object() && string_at(e.get_object(), "name") == name) return true;
  return false;
}

const json::object* container_status(const json::object& pod, std::string_view name) {
  const json::object* status = object_at(pod, "status");
  if (!status) return nullptr;
  for (auto* list : {"initContainerStatuses", "containerStatuses"})
    if (auto* a = array_at(*status, list))
      for (const auto& s : *a)
        if (s.is_object() && string_at(s.get_object(), "name") == name) return &s.get_object();
  return nullptr;
}

// "running", "waiting: CrashLoopBackOff", "terminated: exit 3 (Error)"
std::string state_text(const json::object& status) {
  const json::object* state = object_at(status, "state");
  if (!state) return "unknown";
  if (object_at(*state, "running")) return "running";
  if (auto* w = object_at(*state, "waiting")) {
    std::string reason = string_at(*w, "reason");
    return reason.empty() ? "waiting" : "waiting: " + reason;
  }
  if (auto* t = object_at(*state, "terminated")) {
    std::string out = "terminated: exit " + std::to_string(int_at(*t, "exitCode").value_or(-1));
    if (auto reason = string_at(*t, "reason"); !reason.empty()) out += " (" + reason + ")";
    return out;
  }
  return "unknown";
}

std::string join(const std::vector<std::string>& v, std::string_view sep = ", ") {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : std::string(sep)) + s;
  return out;
}

std::vector<std::string> audiences_of(const json::object& claims) {
  std::vector<std::string> out;
  if (auto* v = claims.if_contains("aud")) {
    if (v->is_string()) out.emplace_back(v->get_string());
    if (v->is_array())
      for (const auto& a : v->get_array())
        if (a.is_string()) out.emplace_back(a.get_string());
  }
  return out;
}

// One line of the sidecar's log, as far as the doctor cares.
struct LogEvent {
  std::string level, msg, reason;
};

// The proxy logs JSON lines by default; text lines ("--log-format text") are read for their level and message.
std::vector<LogEvent> parse_log(std::string_view log) {
  std::vector<LogEvent> out;
  std::istringstream in{std::string(log)};
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    json::error_code ec;
    json::value v = json::parse(line, ec);
    if (!ec && v.is_object()) {
      const auto& o = v.get_object();
      out.push_back({string_at(o, "level"), string_at(o, "msg"), string_at(o, "reason")});
      continue;
    }
    LogEvent e;
    for (std::string_view level : {"error", "warn", "info", "debug"})
      if (line.find(std::string(level)) != std::string::npos) {
        e.level = level;
        break;
      }
    e.msg = line;
    if (line.find("AADSTS") != std::string::npos) e.reason = line;
    out.push_back(std::move(e));
  }
  return out;
}

bool is_token_success(const LogEvent& e) { return e.msg == "successfully acquired token"; }
bool is_token_failure(const LogEvent& e) {
  if (e.msg == "refused token request") return true;  // answered with an IMDS error, e.g. no identity named
  return e.level == "error" && (e.msg == "failed to acquire token" || e.msg == "giving up on the token request" ||
                                e.msg == "cannot read the service account token" || !e.reason.empty());
}

std::string first_line(std::string_view s) {
  auto nl = s.find_first_of("\r\n");
  return std::string(s.substr(0, nl));
}

// The proxy-init's own error line (it logs JSON too), else the last line of its output.
std::string last_error_line(std::string_view log) {
  std::string last;
  for (const auto& e : parse_log(log)) {
    if (e.level == "error") last = e.msg + (e.reason.empty() ? "" : ": " + e.reason);
  }
  if (!last.empty()) return last;
  auto events = parse_log(log);
  return events.empty() ? "" : events.back().msg;
}

class Diagnosis {
 public:
  explicit Diagnosis(const PodFacts& f) : f_(f) { report_.subject = "pod " + f.ns + "/" + f.name; }

  Report run() {
    if (!pod()) return std::move(report_);
    bool labelled = label();
    bool sa_ok = service_account();
    bool mutated = webhook(labelled);
    std::string mode = proxy(mutated);
    if (sa_ok) token();
    if (!mode.empty()) {
      if (mode == "init-container") proxy_init();
      sidecar();
    }
    events();
    return std::move(report_);
  }

 private:
  Check& add(std::string name, Status status, std::string summary, std::string fix = {}) {
    report_.checks.push_back(Check{std::move(name), status, std::move(summary), {}, std::move(fix)});
    return report_.checks.back();
  }

  bool pod() {
    if (!f_.pod.object) {
      if (f_.pod.not_found)
        add("pod", Status::fail, "pod " + f_.ns + "/" + f_.name + " not found",
            "check the name and namespace (kubectl get pods -n " + f_.ns +
                "); a pod the webhook refused was never created: see the ReplicaSet's events");
      else
        add("pod", Status::fail, "cannot read the pod: " + f_.pod.error);
      return false;
    }
    pod_ = &*f_.pod.object;
    spec_ = object_at(*pod_, "spec");
    static const json::object empty;
    if (!spec_) spec_ = &empty;
    const json::object* status = object_at(*pod_, "status");
    std::string phase = status ? string_at(*status, "phase") : "";
    Check& c = add("pod", Status::ok, "phase " + (phase.empty() ? std::string("unknown") : phase));
    std::string sa = webhook::service_account_name(*pod_);
    c.details.emplace_back("service account", sa);
    if (phase == "Pending") c.status = Status::warn;
    return true;
  }

  bool label() {
    const json::object* meta = object_at(*pod_, "metadata");
    const json::object* labels = meta ? object_at(*meta, "labels") : nullptr;
    const json::value* v = labels ? labels->if_contains(kUseLabel) : nullptr;
    if (v && v->is_string() && v->get_string() == "true") {
      add("label", Status::ok, std::string(kUseLabel) + ": \"true\"");
      return true;
    }
    std::string fix = "label the pod (in a Deployment: spec.template.metadata.labels) with " +
                      std::string(kUseLabel) + ": \"true\", then recreate it (kubectl rollout restart)";
    if (v && v->is_string())
      add("label", Status::fail,
          "the label " + std::string(kUseLabel) + " is " + q(v->get_string()) + ", not \"true\": the webhook never sees the pod",
          fix);
    else
      add("label", Status::fail, "the label " + std::string(kUseLabel) + " is missing: the webhook never sees the pod",
          fix);
    return false;
  }

  bool service_account() {
    std::string name = webhook::service_account_name(*pod_);
    const Read& r = f_.service_account;
    if (!r.object) {
      if (r.not_found)
        add("service-account", Status::fail, "service account " + q(name) + " not found in namespace " + f_.ns,
            "create it, annotated with " + std::string(kClientIdAnnotation) + ", then recreate the pod");
      else
        add("service-account", Status::warn, "cannot read service account " + q(name) + ": " + r.error);
      return false;
    }
    const json::object* meta = object_at(*r.object, "metadata");
    const json::object* ann = meta ? object_at(*meta, "annotations") : nullptr;
    std::string client_id = ann ? string_at(*ann, kClientIdAnnotation) : "";
    std::string tenant_id = ann ? string_at(*ann, kTenantIdAnnotation) : "";
    // A container may name its identity itself.
    std::string env_client;
    for (auto [c, init] : containers(*spec_))
      if (string_at(*c, "name") != kProxyName && has_env(*c, "AZURE_CLIENT_ID")) env_client = env_value(*c, "AZURE_CLIENT_ID");
    if (!client_id.empty()) {
      Check& c = add("service-account", Status::ok, q(name) + " has " + std::string(kClientIdAnnotation));
      c.details.emplace_back("client-id", client_id);
      if (!tenant_id.empty()) c.details.emplace_back("tenant-id", tenant_id);
      client_id_ = client_id;
    } else if (!env_client.empty()) {
      Check& c = add("service-account", Status::info,
                     q(name) + " has no " + std::string(kClientIdAnnotation) +
                         " annotation; a container sets AZURE_CLIENT_ID itself");
      c.details.emplace_back("AZURE_CLIENT_ID", env_client);
      client_id_ = env_client;
    } else {
      add("service-account", Status::fail,
          "service account " + q(name) + " has no " + std::string(kClientIdAnnotation) +
              " annotation: AZURE_CLIENT_ID is not injected, and requests naming no client_id are refused",
          "kubectl annotate serviceaccount -n " + f_.ns + " " + name + " " + std::string(kClientIdAnnotation) +
              "=<the identity's client ID>, then recreate the pod");
    }
    return true;
  }

  bool webhook(bool labelled) {
    bool volume = false;
    std::string volume_name;
    if (auto* vols = array_at(*spec_, "volumes"))
      for (const auto& v : *vols)
        if (v.is_object() && webhook::is_token_volume(string_at(v.get_object(), "name"))) {
          volume = true;
          volume_name = string_at(v.get_object(), "name");
          if (auto* projected = object_at(v.get_object(), "projected"))
            if (auto* sources = array_at(*projected, "sources"))
              for (const auto& s : *sources)
                if (s.is_object())
                  if (auto* t = object_at(s.get_object(), "serviceAccountToken")) {
                    audience_ = string_at(*t, "audience");
                    expiration_ = int_at(*t, "expirationSeconds").value_or(0);
                  }
        }
    std::vector<std::string> given, skipped;
    for (auto [c, init] : containers(*spec_)) {
      std::string name = string_at(*c, "name");
      if (has_env(*c, "AZURE_FEDERATED_TOKEN_FILE")) given.push_back(name);
      else if (name != kProxyInitName) skipped.push_back(name);
    }
    if (volume && !given.empty()) {
      Check& c = add("webhook", Status::ok, "mutated: projected token volume " + q(volume_name) +
                                                " and AZURE_* variables in " + join(given));
      if (!audience_.empty()) c.details.emplace_back("token audience", audience_);
      if (expiration_) c.details.emplace_back("token lifetime", std::to_string(expiration_) + " s");
      const json::object* meta = object_at(*pod_, "metadata");
      const json::object* ann = meta ? object_at(*meta, "annotations") : nullptr;
      if (!skipped.empty()) {
        std::string listed = ann ? string_at(*ann, kSkipContainersAnnotation) : "";
        c.details.emplace_back("not given the identity", join(skipped) + (listed.empty() ? "" : " (" +
                                                            std::string(kSkipContainersAnnotation) + ": " + listed + ")"));
      }
      return true;
    }
    if (!labelled) {
      add("webhook", Status::skip, "not mutated (the pod is not labelled)");
      return false;
    }
    if (!f_.webhook_config.object) {
      if (f_.webhook_config.not_found) {
        add("webhook", Status::fail, "not mutated, and no MutatingWebhookConfiguration of the webhook is installed",
            "install the webhook (docs/install.md), then recreate the pod");
        return false;
      }
    }
    add("webhook", Status::fail,
        "not mutated although labelled: the pod was created before the label or before the webhook was ready "
        "(it acts on pod creation only)",
        "recreate the pod (kubectl rollout restart deploy/<name>, or delete the pod)");
    return false;
  }

  // The mode the sidecar is reached in, or "" when there is no sidecar.
  std::string proxy(bool mutated) {
    const json::object* meta = object_at(*pod_, "metadata");
    const json::object* ann = meta ? object_at(*meta, "annotations") : nullptr;
    bool asked = ann && webhook::annotation_is_true(string_at(*ann, kInjectProxyAnnotation));
    const json::object* sidecar = container_named(*spec_, kProxyName);
    if (!sidecar) {
      if (!mutated) return "";
      if (asked)
        add("proxy", Status::fail, "the annotation " + std::string(kInjectProxyAnnotation) +
                                       " is set but no azwi-proxy container was injected",
            "recreate the pod; if it persists, read the webhook's log line for this pod");
      else
        add("proxy", Status::info,
            "no azwi-proxy sidecar (the pod lacks the annotation " + std::string(kInjectProxyAnnotation) +
                "): only SDKs with workload identity support get tokens; an application asking IMDS needs it",
            "for applications that ask IMDS, add " + std::string(kInjectProxyAnnotation) +
                ": \"true\" to the pod template and recreate the pod");
      return "";
    }
    std::string mode = ann ? string_at(*ann, kProxyModeAnnotation) : "";
    if (mode.empty()) {  // a pod mutated by a webhook that did not record the mode
      bool identity_endpoint = false;
      for (auto [c, init] : containers(*spec_))
        identity_endpoint = identity_endpoint || has_env(*c, "IDENTITY_ENDPOINT");
      mode = container_named(*spec_, kProxyInitName) ? "init-container"
             : identity_endpoint                     ? "identity-endpoint"
                                                     : "cni";
    }
    Check& c = add("proxy", Status::ok, "azwi-proxy injected, mode " + mode);
    std::string port = env_value(*sidecar, "PROXY_PORT");
    if (auto* args = array_at(*sidecar, "args"))
      for (const auto& a : *args)
        if (a.is_string() && a.get_string().starts_with("--proxy-port=")) port = std::string(a.get_string()).substr(13);
    if (!port.empty()) c.details.emplace_back("port", port);
    return mode;
  }

  void token() {
    if (!f_.token_claims) {
      if (!f_.token_error.empty())
        add("token", Status::warn, "cannot read the claims of the pod's token: " + f_.token_error);
      return;
    }
    const json::object& claims = *f_.token_claims;
    std::string iss = string_at(claims, "iss"), sub = string_at(claims, "sub");
    std::vector<std::string> aud = audiences_of(claims);
    Check& c = add("token", Status::ok, "the projected token's claims (decoded; the token itself is not shown)");
    c.details.emplace_back("iss", iss);
    c.details.emplace_back("sub", sub);
    c.details.emplace_back("aud", join(aud));
    std::string expected = "system:serviceaccount:" + f_.ns + ":" + webhook::service_account_name(*pod_);
    if (sub != expected) {
      c.status = Status::warn;
      c.summary += "; the subject is not " + expected;
    }
    credentials(iss, sub, aud);
  }

  void credentials(const std::string& iss, const std::string& sub, const std::vector<std::string>& aud) {
    if (!f_.credentials) {
      if (!f_.credentials_error.empty())
        add("federated-credential", Status::warn, "cannot list the identity's federated credentials: " +
                                                      f_.credentials_error);
      else
        add("federated-credential", Status::skip,
            "not compared: name the identity (--subscription-id, --resource-group, --identity-name) to read its "
            "federated credentials through ARM");
      return;
    }
    std::string fix_create = "azwi serviceaccount create --service-account-namespace " + f_.ns +
                             " --service-account-name " + webhook::service_account_name(*pod_) +
                             " --service-account-issuer-url " + iss + " ... (or az identity federated-credential "
                             "create --issuer " + iss + " --subject " + sub + " --audiences " +
                             (aud.empty() ? std::string("api://AzureADTokenExchange") : aud.front()) + ")";
    std::string where = f_.identity.empty() ? std::string("the identity") : f_.identity;
    switch (match_credentials(*f_.credentials, iss, sub, aud)) {
      case CredentialMatch::match: {
        Check& c = add("federated-credential", Status::ok, "a federated credential of " + where +
                                                               " matches the token's issuer, subject and audience");
        for (const auto& fc : *f_.credentials)
          if (fc.issuer == iss && fc.subject == sub) c.details.emplace_back("credential", fc.name);
        return;
      }
      case CredentialMatch::no_issuer:
        add("federated-credential", Status::fail,
            "no federated credential of " + where + " has the issuer " + iss + " (Entra answers AADSTS700211)",
            fix_create);
        return;
      case CredentialMatch::no_subject:
        add("federated-credential", Status::fail,
            "no federated credential of " + where + " with that issuer has the subject " + sub +
                " (Entra answers AADSTS700213)",
            fix_create);
        return;
      case CredentialMatch::no_audience:
        add("federated-credential", Status::fail,
            "no federated credential of " + where + " with that issuer and subject lists the audience " + join(aud) +
                " (Entra answers AADSTS700212)",
            "add " + join(aud) + " to the credential's audiences");
        return;
    }
  }

  void proxy_init() {
    const json::object* st = container_status(*pod_, kProxyInitName);
    if (!st) {
      add("proxy-init", Status::info, "azwi-proxy-init has not run yet");
      return;
    }
    std::string state = state_text(*st);
    const json::object* current = object_at(*st, "state");
    const json::object* term = current ? object_at(*current, "terminated") : nullptr;
    if (!term)
      if (auto* last = object_at(*st, "lastState")) term = object_at(*last, "terminated");
    if (term && int_at(*term, "exitCode").value_or(0) == 0) {
      add("proxy-init", Status::ok, "the redirect of 169.254.169.254:80 to the sidecar is installed");
      return;
    }
    if (!term) {
      add("proxy-init", Status::info, "azwi-proxy-init: " + state);
      return;
    }
    int code = static_cast<int>(int_at(*term, "exitCode").value_or(-1));
    Check& c = add("proxy-init", Status::fail, "azwi-proxy-init failed (exit " + std::to_string(code) + ")");
    if (auto line = last_error_line(f_.init_log); !line.empty()) c.details.emplace_back("log", first_line(line));
    c.fix = code == 3 ? "the container needs NET_ADMIN and root: securityContext: {capabilities: {add: [NET_ADMIN]}, "
                        "runAsUser: 0}; a policy or the runtime dropped it (docs/troubleshooting.md)"
                      : "read kubectl logs -c azwi-proxy-init (docs/proxy-init.md)";
  }

  void sidecar() {
    const json::object* st = container_status(*pod_, kProxyName);
    if (!st) {
      add("sidecar", Status::info, "azwi-proxy has not started yet");
      return;
    }
    bool ready = bool_at(*st, "ready");
    std::int64_t restarts = int_at(*st, "restartCount").value_or(0);
    std::vector<LogEvent> log = parse_log(f_.sidecar_log);
    const LogEvent* last_success = nullptr;
    const LogEvent* last_failure = nullptr;
    for (const auto& e : log) {
      if (is_token_success(e)) {
        last_success = &e;
        last_failure = nullptr;  // only failures after the last success count
      } else if (is_token_failure(e)) {
        last_failure = &e;
      }
    }
    Check& c = add("sidecar", ready ? Status::ok : Status::fail,
                   std::string(ready ? "ready" : "not ready") + " (" + state_text(*st) + ")");
    if (restarts) c.details.emplace_back("restarts", std::to_string(restarts));
    if (!f_.sidecar_log_error.empty()) c.details.emplace_back("log", "cannot read: " + f_.sidecar_log_error);
    if (!ready) c.fix = "kubectl describe pod -n " + f_.ns + " " + f_.name + " and kubectl logs -c azwi-proxy";
    if (last_failure) {
      std::string reason = last_failure->reason.empty() ? last_failure->msg : last_failure->reason;
      c.status = Status::fail;
      c.summary += "; its last token request failed";
      c.details.emplace_back("last error", first_line(reason));
      aadsts(reason);
    } else if (last_success) {
      c.summary += "; its last token request succeeded";
    } else {
      c.summary += "; no token request yet";
    }
  }

  void aadsts(const std::string& reason) {
    auto code = find_aadsts_code(reason);
    if (!code) return;
    const AadstsAdvice* a = explain_aadsts(*code);
    std::string name = "AADSTS" + std::to_string(*code);
    if (!a) {
      add("entra", Status::fail, "Entra ID answered " + name + "; see its message above");
      return;
    }
    Check& c = add("entra", Status::fail, "Entra ID answered " + name + ": " + std::string(a->meaning),
                   std::string(a->fix));
    if (!client_id_.empty() && (*code == 700016 || *code == 90002)) c.details.emplace_back("client-id", client_id_);
  }

  void events() {
    if (f_.events.empty()) return;
    Check& c = add("events", Status::warn, std::to_string(f_.events.size()) + " warning event(s) about the pod");
    for (const auto& e : f_.events) {
      std::string reason = string_at(e, "reason"), message = string_at(e, "message");
      if (c.details.size() < 5) c.details.emplace_back(reason, first_line(message));
      if (reason == "FailedMount" && message.find("configmap") != std::string::npos) {
        c.status = Status::fail;
        c.fix = "the webhook's PROXY_CA_CONFIGMAP (chart value proxyCAConfigMap) names a ConfigMap or key missing "
                "from namespace " + f_.ns + ": create it there";
      }
    }
  }

  const PodFacts& f_;
  Report report_;
  const json::object* pod_ = nullptr;
  const json::object* spec_ = nullptr;
  std::string audience_, client_id_;
  std::int64_t expiration_ = 0;
};

Read read_object(kube::ApiClient& api, const std::string& path) {
  Read r;
  auto res = api.request("GET", path);
  if (!res.error.empty()) {
    r.error = res.error;
    return r;
  }
  if (res.status == 404) {
    r.not_found = true;
    return r;
  }
  if (res.status != 200) {
    r.error = kube::api_status_message(res.status, res.body);
    return r;
  }
  json::error_code ec;
  auto v = json::parse(res.body, ec);
  if (ec || !v.is_object()) r.error = "the API server's answer is not a JSON object";
  else r.object = std::move(v.get_object());
  return r;
}

}  // namespace

CredentialMatch match_credentials(const std::vector<FederatedCredential>& credentials, const std::string& issuer,
                                  const std::string& subject, const std::vector<std::string>& audiences) {
  bool issuer_seen = false, subject_seen = false;
  for (const auto& c : credentials) {
    if (c.issuer != issuer) continue;
    issuer_seen = true;
    if (c.subject != subject) continue;
    subject_seen = true;
    for (const auto& want : c.audiences)
      if (std::find(audiences.begin(), audiences.end(), want) != audiences.end()) return CredentialMatch::match;
  }
  return !issuer_seen ? CredentialMatch::no_issuer : !subject_seen ? CredentialMatch::no_subject
                                                                   : CredentialMatch::no_audience;
}

Report diagnose(const PodFacts& facts) { return Diagnosis(facts).run(); }

PodFacts gather_pod_facts(kube::ApiClient& api, const DoctorTarget& t) {
  PodFacts f;
  f.ns = t.ns;
  f.name = t.name;
  std::string ns_path = "/api/v1/namespaces/" + http::form_encode(t.ns);
  f.pod = read_object(api, ns_path + "/pods/" + http::form_encode(t.name));
  if (!f.pod.object) return f;
  const json::object& pod = *f.pod.object;
  std::string sa = webhook::service_account_name(pod);
  f.service_account = read_object(api, ns_path + "/serviceaccounts/" + http::form_encode(sa));
  f.webhook_config = read_object(api, "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/" +
                                          http::form_encode(t.webhook_config_name));
  const json::object* meta = object_at(pod, "metadata");
  std::string uid = meta ? string_at(*meta, "uid") : "";

  // The audience the kubelet's token has: the projected volume's, else the webhook's default.
  std::string audience(webhook::kDefaultAudience);
  if (const json::object* spec = object_at(pod, "spec"))
    if (auto* vols = array_at(*spec, "volumes"))
      for (const auto& v : *vols)
        if (v.is_object() && webhook::is_token_volume(string_at(v.get_object(), "name")))
          if (auto* p = object_at(v.get_object(), "projected"))
            if (auto* sources = array_at(*p, "sources"))
              for (const auto& s : *sources)
                if (s.is_object())
                  if (auto* tok = object_at(s.get_object(), "serviceAccountToken"))
                    if (auto a = string_at(*tok, "audience"); !a.empty()) audience = a;
  if (f.service_account.object) {
    auto token = request_service_account_token(api, t.ns, sa, audience, BoundPod{t.name, uid});
    if (token.index() == 1) {
      f.token_error = std::get<1>(token);
    } else {
      try {
        f.token_claims = jwt::parse(std::get<0>(token)).claims;
      } catch (const std::exception& e) {
        f.token_error = std::string("the TokenRequest answer holds no readable token: ") + e.what();
      }
    }
  }

  auto logs = [&](std::string_view container, std::string* error) -> std::string {
    auto res = api.request("GET", ns_path + "/pods/" + http::form_encode(t.name) + "/log?container=" +
                                      std::string(container) + "&tailLines=" + std::to_string(t.log_lines));
    if (!res.error.empty()) {
      if (error) *error = res.error;
      return {};
    }
    if (res.status != 200) {
      if (error) *error = kube::api_status_message(res.status, res.body);
      return {};
    }
    return res.body;
  };
  if (container_status(pod, webhook::kProxyName)) f.sidecar_log = logs(webhook::kProxyName, &f.sidecar_log_error);
  if (container_status(pod, webhook::kProxyInitName)) f.init_log = logs(webhook::kProxyInitName, nullptr);

  auto res = api.request("GET", ns_path + "/events?fieldSelector=" +
                                    http::form_encode("involvedObject.name=" + t.name + ",type=Warning"));
  if (res.error.empty() && res.status == 200) {
    json::error_code ec;
    auto v = json::parse(res.body, ec);
    if (!ec && v.is_object())
      if (auto* items = array_at(v.get_object(), "items"))
        for (const auto& e : *items) {
          if (!e.is_object()) continue;
          const json::object* involved = object_at(e.get_object(), "involvedObject");
          if (involved && !uid.empty() && !string_at(*involved, "uid").empty() && string_at(*involved, "uid") != uid)
            continue;  // an earlier pod of the same name
          f.events.push_back(e.get_object());
        }
  }
  return f;
}

}  // namespace azwi::cli
