#include "cli/podidentity.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <set>
#include <stdexcept>

#include "cli/files.hpp"
#include "cli/json_access.hpp"
#include "common/flags.hpp"
#include "http/client_types.hpp"
#include "kube/client.hpp"
#include "webhook/mutation.hpp"

namespace azwi::cli {
namespace json = boost::json;

namespace {

// AzureIdentity spec.type: 0 user-assigned managed identity, 1 service principal (secret), 2 service principal
// (certificate).
std::string identity_type_name(std::int64_t t) {
  switch (t) {
    case 0: return "user-assigned managed identity";
    case 1: return "service principal with a client secret";
    case 2: return "service principal with a certificate";
  }
  return "identity of type " + std::to_string(t);
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

const json::object* find_named(const std::vector<json::object>& list, std::string_view name) {
  for (const auto& o : list)
    if (meta_string(o, "name") == name) return &o;
  return nullptr;
}

// The controller owner of an object, as "Kind/name"; empty when there is none.
std::string controller_of(const json::object& o) {
  const json::object* meta = object_at(o, "metadata");
  if (!meta) return {};
  if (auto* refs = array_at(*meta, "ownerReferences"))
    for (const auto& r : *refs)
      if (r.is_object() && bool_at(r.get_object(), "controller"))
        return string_at(r.get_object(), "kind") + "/" + string_at(r.get_object(), "name");
  return {};
}

// The workload a pod belongs to: ReplicaSet -> Deployment, Job -> CronJob, followed as far as the owners go.
std::string workload_of(const json::object& pod, const std::map<std::string, json::object>& owners) {
  std::string key = controller_of(pod);
  if (key.empty()) return "Pod/" + meta_string(pod, "name");
  for (int depth = 0; depth < 3; ++depth) {
    std::string kind = key.substr(0, key.find('/'));
    if (kind != "ReplicaSet" && kind != "Job") break;
    auto it = owners.find(key);
    if (it == owners.end()) break;
    std::string up = controller_of(it->second);
    if (up.empty()) break;
    key = up;
  }
  return key;
}

bool matches_labels(const json::object& pod, const json::object& wanted) {
  const json::object* meta = object_at(pod, "metadata");
  const json::object* labels = meta ? object_at(*meta, "labels") : nullptr;
  if (!labels || wanted.empty()) return false;
  for (const auto& [k, v] : wanted)
    if (!v.is_string() || string_at(*labels, k) != v.get_string()) return false;
  return true;
}

void yaml_value(std::string& out, const json::value& v, int indent);

void yaml_scalar(std::string& out, const json::value& v) {
  if (v.is_string()) out += json::serialize(v);  // JSON quoting is valid YAML
  else out += json::serialize(v);
}

void yaml_object(std::string& out, const json::object& o, int indent) {
  for (const auto& [k, v] : o) {
    out += std::string(static_cast<std::size_t>(indent), ' ');
    out += std::string(k) + ":";
    yaml_value(out, v, indent);
  }
}

void yaml_value(std::string& out, const json::value& v, int indent) {
  if (v.is_object() && !v.get_object().empty()) {
    out += "\n";
    yaml_object(out, v.get_object(), indent + 2);
  } else if (v.is_array() && !v.get_array().empty()) {
    out += "\n";
    for (const auto& item : v.get_array()) {
      out += std::string(static_cast<std::size_t>(indent), ' ') + "-";
      if (item.is_object() && !item.get_object().empty()) {
        // The first member on the dash's line, the rest aligned under it.
        std::string block;
        yaml_object(block, item.get_object(), indent + 2);
        out += " " + block.substr(static_cast<std::size_t>(indent) + 2);
      } else {
        out += " ";
        yaml_scalar(out, item);
        out += "\n";
      }
    }
  } else {
    out += " ";
    if (v.is_object()) out += "{}";
    else if (v.is_array()) out += "[]";
    else yaml_scalar(out, v);
    out += "\n";
  }
}

struct Workload {
  std::string kind, name;
  std::string binding_selector;
  std::vector<std::string> pods;
  std::string service_account;  // the pods' service account
};

}  // namespace

std::string to_yaml(const json::value& v) {
  std::string out;
  if (v.is_object()) yaml_object(out, v.get_object(), 0);
  else yaml_value(out, v, 0);
  return out;
}

DetectPlan plan_migration(const DetectInputs& in, const DetectOptions& opt) {
  DetectPlan plan;
  plan.report.subject = "aad-pod-identity workloads in namespace " + in.ns;
  if (in.pods.empty())
    plan.report.checks.push_back({"namespace", Status::info,
                                  "no pod labelled " + std::string(kPodIdentityLabel) + " in namespace " + in.ns, {}, {}});

  // Workloads in the order their first pod was listed.
  std::vector<Workload> workloads;
  for (const auto& pod : in.pods) {
    std::string pod_name = meta_string(pod, "name");
    bool excepted = false;
    for (const auto& ex : in.exceptions) {
      const json::object* spec = object_at(ex, "spec");
      const json::object* labels = spec ? object_at(*spec, "podLabels") : nullptr;
      if (labels && matches_labels(pod, *labels)) {
        plan.report.checks.push_back({"pod/" + pod_name, Status::info,
                                      "excepted by AzurePodIdentityException " + meta_string(ex, "name") +
                                          ": it reaches IMDS itself; nothing to move",
                                      {}, {}});
        excepted = true;
        break;
      }
    }
    if (excepted) continue;
    std::string key = workload_of(pod, in.owners);
    std::string kind = key.substr(0, key.find('/')), name = key.substr(key.find('/') + 1);
    const json::object* meta = object_at(pod, "metadata");
    const json::object* labels = meta ? object_at(*meta, "labels") : nullptr;
    std::string selector = labels ? string_at(*labels, kPodIdentityLabel) : "";
    auto it = std::find_if(workloads.begin(), workloads.end(), [&](const Workload& w) { return w.kind == kind && w.name == name; });
    if (it == workloads.end()) {
      workloads.push_back({kind, name, selector, {}, webhook::service_account_name(pod)});
      it = workloads.end() - 1;
    }
    it->pods.push_back(pod_name);
  }

  for (const auto& w : workloads) {
    std::string label = lower(w.kind) + "/" + w.name;
    Check check{label, Status::ok, "", {}, {}};
    check.details.emplace_back("pods", [&] {
      std::string s;
      for (const auto& p : w.pods) s += (s.empty() ? "" : ", ") + p;
      return s;
    }());
    check.details.emplace_back(std::string(kPodIdentityLabel), w.binding_selector);
    // Bindings select pods by the label's value; each names one AzureIdentity.
    std::vector<const json::object*> identities;
    for (const auto& b : in.bindings) {
      const json::object* spec = object_at(b, "spec");
      if (!spec || string_at(*spec, "selector") != w.binding_selector) continue;
      if (const json::object* id = find_named(in.identities, string_at(*spec, "azureIdentity")))
        identities.push_back(id);
      else
        check.details.emplace_back("binding " + meta_string(b, "name"),
                                   "names AzureIdentity " + string_at(*spec, "azureIdentity") + ", which does not exist");
    }
    if (identities.empty()) {
      check.status = Status::warn;
      check.summary = "no AzureIdentityBinding with selector " + w.binding_selector + " names an existing AzureIdentity";
      check.fix = "nothing to migrate until the binding and its identity exist";
      plan.report.checks.push_back(std::move(check));
      continue;
    }
    if (identities.size() > 1)
      check.details.emplace_back("note", "several identities are bound; the first, " + meta_string(*identities[0], "name") +
                                             ", becomes AZURE_CLIENT_ID (others are asked for by client_id)");
    const json::object& identity = *identities[0];
    const json::object* ispec = object_at(identity, "spec");
    static const json::object empty;
    if (!ispec) ispec = &empty;
    std::int64_t type = int_at(*ispec, "type").value_or(0);
    std::string client_id = string_at(*ispec, "clientID");
    std::string tenant_id = string_at(*ispec, "tenantID");
    if (tenant_id.empty()) tenant_id = opt.tenant_id;
    std::string resource_id = string_at(*ispec, "resourceID");
    check.details.emplace_back("identity", meta_string(identity, "name") + " (" + identity_type_name(type) + ")");
    if (type != 0) {
      check.status = Status::warn;
      check.summary = "bound to a " + identity_type_name(type) + ", not a managed identity: this needs a different move";
      check.fix = "give the application registration " + client_id +
                  " a federated credential (az ad app federated-credential create) instead of the secret or "
                  "certificate, or move the workload to a user-assigned managed identity; no files were written";
      plan.report.checks.push_back(std::move(check));
      continue;
    }
    if (client_id.empty()) {
      check.status = Status::warn;
      check.summary = "AzureIdentity " + meta_string(identity, "name") + " has no spec.clientID";
      plan.report.checks.push_back(std::move(check));
      continue;
    }

    std::string sa = w.service_account == "default" ? w.name : w.service_account;
    std::string dir = lower(w.kind) + "-" + w.name + "/";
    json::object annotations{{std::string(webhook::kClientIdAnnotation), client_id}};
    if (!tenant_id.empty()) annotations[webhook::kTenantIdAnnotation] = tenant_id;
    if (opt.token_expiration > 0)
      annotations[webhook::kTokenExpirationAnnotation] = std::to_string(opt.token_expiration);
    json::object sa_obj{{"apiVersion", "v1"},
                        {"kind", "ServiceAccount"},
                        {"metadata", json::object{{"name", sa},
                                                  {"namespace", in.ns},
                                                  {"annotations", std::move(annotations)},
                                                  {"labels", json::object{{std::string(webhook::kUseLabel), "true"}}}}}};
    plan.files.push_back({dir + "serviceaccount.yaml", to_yaml(sa_obj)});

    json::object template_patch{
        {"metadata", json::object{{"labels", json::object{{std::string(webhook::kUseLabel), "true"}}},
                                  {"annotations", json::object{{std::string(webhook::kInjectProxyAnnotation), "true"},
                                                               {std::string(webhook::kProxyPortAnnotation),
                                                                std::to_string(opt.proxy_port)}}}}},
        {"spec", json::object{{"serviceAccountName", sa}}}};
    json::object patch;
    std::string apply_hint;
    if (w.kind == "Pod") {
      check.details.emplace_back("note", "a bare pod cannot change its service account: recreate it with the patch applied");
      patch = template_patch;
      apply_hint = "recreate the pod with pod.patch.yaml merged into its manifest";
    } else if (w.kind == "CronJob") {
      patch = json::object{{"spec", json::object{{"jobTemplate", json::object{{"spec", json::object{{"template", template_patch}}}}}}}};
    } else {
      patch = json::object{{"spec", json::object{{"template", template_patch}}}};
    }
    std::string patch_file = lower(w.kind) + ".patch.yaml";
    plan.files.push_back({dir + patch_file, to_yaml(patch)});
    if (apply_hint.empty())
      apply_hint = "kubectl patch -n " + in.ns + " " + lower(w.kind) + " " + w.name + " --patch-file " + dir + patch_file;

    std::string subject = "system:serviceaccount:" + in.ns + ":" + sa;
    json::object fic{{"name", in.ns + "-" + sa},
                     {"identity", resource_id},
                     {"properties", json::object{{"issuer", in.issuer},
                                                 {"subject", subject},
                                                 {"audiences", json::array{json::string(opt.audience)}}}}};
    plan.files.push_back({dir + "federated-credential.json", json::serialize(fic) + "\n"});

    check.summary = "move to service account " + sa + " with the azwi-proxy sidecar (files in " + dir + ")";
    check.details.emplace_back("client-id", client_id);
    check.details.emplace_back("federated credential", "issuer " + in.issuer + ", subject " + subject);
    check.fix = "review, then: kubectl apply -f " + dir + "serviceaccount.yaml; create the federated credential "
                "(azwi serviceaccount create --skip-phase service-account ..., or az identity federated-credential "
                "create); " + apply_hint;
    plan.report.checks.push_back(std::move(check));
  }
  return plan;
}

namespace {
json::object get_json(kube::ApiClient& api, const std::string& path, bool* not_found = nullptr) {
  auto r = api.request("GET", path);
  if (!r.error.empty()) throw std::runtime_error(r.error);
  if (r.status == 404 && not_found) {
    *not_found = true;
    return {};
  }
  if (r.status != 200) throw std::runtime_error("GET " + path + ": " + kube::api_status_message(r.status, r.body));
  json::error_code ec;
  auto v = json::parse(r.body, ec);
  if (ec || !v.is_object()) throw std::runtime_error("GET " + path + ": the answer is not a JSON object");
  return std::move(v.get_object());
}

std::vector<json::object> items(const json::object& list) {
  std::vector<json::object> out;
  if (auto* a = array_at(list, "items"))
    for (const auto& i : *a)
      if (i.is_object()) out.push_back(i.get_object());
  return out;
}
}  // namespace

DetectInputs read_detect_inputs(kube::ApiClient& api, const std::string& ns, const std::string& issuer_override) {
  DetectInputs in;
  in.ns = ns;
  std::string base = "/apis/" + std::string(kPodIdentityGroup) + "/v1/namespaces/" + http::form_encode(ns) + "/";
  auto crd_list = [&](const char* plural) {
    bool missing = false;
    auto list = get_json(api, base + plural, &missing);
    if (missing)
      throw std::runtime_error("the API server does not serve " + std::string(plural) + "." +
                               std::string(kPodIdentityGroup) + ": aad-pod-identity's CRDs are not installed");
    return items(list);
  };
  in.identities = crd_list("azureidentities");
  in.bindings = crd_list("azureidentitybindings");
  in.exceptions = crd_list("azurepodidentityexceptions");
  in.pods = items(get_json(api, "/api/v1/namespaces/" + http::form_encode(ns) + "/pods?labelSelector=" +
                                    std::string(kPodIdentityLabel)));
  // The owners the pods point at, and theirs in turn (ReplicaSet -> Deployment, Job -> CronJob).
  auto path_of = [&](const std::string& key) -> std::string {
    std::string kind = key.substr(0, key.find('/')), name = http::form_encode(key.substr(key.find('/') + 1));
    std::string apps = "/apis/apps/v1/namespaces/" + http::form_encode(ns) + "/";
    std::string batch = "/apis/batch/v1/namespaces/" + http::form_encode(ns) + "/";
    if (kind == "ReplicaSet") return apps + "replicasets/" + name;
    if (kind == "Job") return batch + "jobs/" + name;
    return {};
  };
  std::vector<std::string> todo;
  for (const auto& p : in.pods)
    if (auto k = controller_of(p); !k.empty()) todo.push_back(k);
  for (std::size_t i = 0; i < todo.size() && i < 1000; ++i) {
    if (in.owners.count(todo[i])) continue;
    std::string path = path_of(todo[i]);
    if (path.empty()) continue;  // Deployment, StatefulSet, DaemonSet, CronJob: the end of the chain
    bool missing = false;
    auto owner = get_json(api, path, &missing);
    if (missing) continue;
    if (auto up = controller_of(owner); !up.empty()) todo.push_back(up);
    in.owners.emplace(todo[i], std::move(owner));
  }
  if (!issuer_override.empty()) {
    in.issuer = issuer_override;
  } else {
    auto disc = get_json(api, "/.well-known/openid-configuration");
    in.issuer = string_at(disc, "issuer");
    if (in.issuer.empty())
      throw std::runtime_error("the API server's /.well-known/openid-configuration names no issuer: give "
                               "--service-account-issuer-url");
  }
  return in;
}

namespace {
// argv[0] is "detect".
int podidentity_detect(int argc, char** argv) {
  std::string ns, output_dir, tenant_id, kubeconfig, issuer, output = "text";
  DetectOptions opt;
  FlagSet flags("azwi podidentity detect",
                "Reads aad-pod-identity's AzureIdentity, AzureIdentityBinding and AzurePodIdentityException objects\n"
                "and the pods labelled aadpodidbinding with their owners (Deployments, StatefulSets, DaemonSets, Jobs,\n"
                "CronJobs) in one namespace, and writes for each workload, under DIR/<kind>-<name>/: the\n"
                "ServiceAccount (annotated with the identity's client ID, labelled), the owner's patch (the\n"
                "azure.workload.identity/use label, the sidecar annotations, serviceAccountName) and the federated\n"
                "credential that must exist (issuer = the cluster's, subject, audience). Nothing is applied: review\n"
                "the files, then apply them. Identities that are service principals are reported, not converted.");
  flags.add_string("namespace", &ns, "the namespace to read");
  flags.add_string("n", &ns, "shorthand for --namespace");
  flags.add_string("output-dir", &output_dir, "where the files are written (created if missing)");
  flags.add_int("proxy-port", &opt.proxy_port, "port of the azwi-proxy sidecar", 1, 65535);
  flags.add_int("service-account-token-expiration", &opt.token_expiration,
                "projected token lifetime in seconds for the service accounts (3600..86400; 0 leaves the webhook's "
                "default)", 0, 86400);
  flags.add_string("tenant-id", &tenant_id, "tenant for identities whose AzureIdentity names none");
  flags.add_string("service-account-issuer-url", &issuer,
                   "the cluster's OIDC issuer (default: the API server's /.well-known/openid-configuration)");
  flags.add_string("kubeconfig", &kubeconfig, "kubeconfig file (else $KUBECONFIG, else in-cluster)");
  flags.add_string("output", &output, "the summary as text or json");
  flags.add_string("o", &output, "shorthand for --output");
  parse_flags_or_exit(flags, argc, argv);
  opt.tenant_id = tenant_id;
  auto format = parse_output_format(output);
  if (!format) exit_usage_error("azwi podidentity detect", "--output must be text or json");
  if (ns.empty()) exit_usage_error("azwi podidentity detect", "--namespace is required");
  if (output_dir.empty()) exit_usage_error("azwi podidentity detect", "--output-dir is required");
  if (opt.token_expiration != 0 && opt.token_expiration < 3600)
    exit_usage_error("azwi podidentity detect", "--service-account-token-expiration must be 3600..86400");
  DetectPlan plan;
  try {
    kube::ApiClient api(kube::resolve_cluster_config(kubeconfig));
    plan = plan_migration(read_detect_inputs(api, ns, issuer), opt);
    for (const auto& f : plan.files) {
      std::filesystem::path p = std::filesystem::path(output_dir) / f.path;
      std::filesystem::create_directories(p.parent_path());
      write_text_file(p, f.content);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "azwi podidentity detect: %s\n", e.what());
    return 1;
  }
  std::cout << (*format == OutputFormat::json ? render_json(plan.report) : render_text(plan.report, stdout_wants_colour()));
  return 0;
}

}  // namespace

int podidentity_command(int argc, char** argv) {
  return run_command("azwi podidentity",
                     "Usage: azwi podidentity detect --namespace NS --output-dir DIR [flags]\n\n"
                     "Run 'azwi podidentity detect --help' for the flags.\n",
                     {{"detect", podidentity_detect}}, argc, argv, /*unknown_line=*/false);
}

}  // namespace azwi::cli
