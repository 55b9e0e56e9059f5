#include "webhook/mutation.hpp"

#include "common/text.hpp"
#include "common/json_text.hpp"
#include "jwt/digest.hpp"
#include "webhook/json_write.hpp"
#include "webhook/review_fields.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cctype>
#include <charconv>
#include <optional>
#include <set>

namespace azwi::webhook {
namespace json = boost::json;

namespace {

// A structural problem in the pod that makes it impossible to mutate: becomes a 400 denial.
struct Deny {
  std::string message;
};

const json::object* object_at(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_object() ? &v->get_object() : nullptr;
}

std::optional<std::string_view> string_at(const json::object* o, std::string_view key) {
  if (!o) return std::nullopt;
  auto* v = o->if_contains(key);
  if (!v || !v->is_string()) return std::nullopt;
  return std::string_view(v->get_string());
}


// Digits only, like Go's strconv.Atoi without a sign: "0x10", " 8000" and "8000.0" are all refused.
std::optional<long long> parse_decimal(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  long long v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.front() == '-') return std::nullopt;
  return v;
}

std::string quoted(std::string_view s) {
  std::string out(1, '"');
  out.append(s);
  out += '"';
  return out;
}

// Writes the patch: RFC 6902 operations straight as JSON text, the one form the mutation's result takes. The
// tests read it back and apply it with an independent implementation.
class PatchWriter {
 public:
  explicit PatchWriter(std::string& text) : text_(text) {}

  // `path` + `suffix` is the JSON pointer; `json` the value's text.
  void add(std::string_view path, std::string_view suffix, std::string_view json) {
    op("add", path, suffix, [&] { text_ += json; });
  }
  void replace(std::string_view path, std::string_view suffix, std::string_view json) {
    op("replace", path, suffix, [&] { text_ += json; });
  }
  template <class V>
  void add_value(std::string_view path, std::string_view suffix, const V& value) {
    op("add", path, suffix, [&] { append_json(text_, value); });
  }
  template <class V>
  void replace_value(std::string_view path, std::string_view suffix, const V& value) {
    op("replace", path, suffix, [&] { append_json(text_, value); });
  }

  std::size_t count() const { return count_; }
  void clear() {
    text_.clear();
    count_ = 0;
  }
  void finish() {
    if (count_) text_ += ']';
  }

 private:
  template <class WriteValue>
  void op(std::string_view name, std::string_view path, std::string_view suffix, WriteValue&& write_value) {
    ++count_;
    text_ += count_ == 1 ? "[{\"op\":\"" : ",{\"op\":\"";
    text_ += name;
    // Pointers are made of the webhook's own key names and indices: nothing in them needs escaping.
    text_ += "\",\"path\":\"";
    text_ += path;
    text_ += suffix;
    text_ += "\",\"value\":";
    write_value();
    text_ += '}';
  }
  std::string& text_;
  std::size_t count_ = 0;
};

json::object env_var(std::string_view name, std::string_view value, const json::storage_ptr& sp) {
  json::object o(sp);
  o.reserve(2);
  o.emplace("name", name);
  o.emplace("value", value);
  return o;
}

// Whether a container's mount of the token volume is exactly the one the webhook writes.
bool is_token_mount(const json::value& m, const TokenPaths& paths) {
  const json::object* o = m.if_object();
  if (!o || o->size() != 3) return false;
  const json::value* read_only = o->if_contains("readOnly");
  return string_at(o, "name") == std::string_view(paths.volume) && string_at(o, "mountPath") == paths.mount_path &&
         read_only && read_only->is_bool() && read_only->get_bool();
}

json::object config_map_source(std::string_view name, std::string_view key, std::string_view path,
                               const json::storage_ptr& sp) {
  json::object item(sp);
  item.reserve(2);
  item.emplace("key", key);
  item.emplace("path", path);
  json::object config_map(sp);
  config_map.reserve(3);
  config_map.emplace("name", name);
  config_map.emplace("items", json::array({std::move(item)}, sp));
  config_map.emplace("optional", false);
  json::object source(sp);
  source.emplace("configMap", std::move(config_map));
  return source;
}

// The token volume's sources: the service account token; when the proxy trusts a CA from a ConfigMap, that
// ConfigMap's key as kProxyCAFileName; with a custom token endpoint whose CA comes from a ConfigMap or a
// ClusterTrustBundle, that CA as kCustomCAPath. Not optional: a missing ConfigMap or key stops the pod with a
// kubelet event naming it, instead of a client that fails every TLS handshake.
json::array token_sources(const TokenPaths& paths, int expiration, std::string_view audience, const Config* proxy_ca,
                          const CustomTokenEndpoint* custom, const json::storage_ptr& sp) {
  json::object token(sp);
  token.reserve(3);
  token.emplace("path", paths.token_path);
  token.emplace("expirationSeconds", expiration);
  token.emplace("audience", audience);
  json::object source(sp);
  source.emplace("serviceAccountToken", std::move(token));
  json::array sources(sp);
  sources.reserve(3);
  sources.emplace_back(std::move(source));
  if (proxy_ca)
    sources.emplace_back(config_map_source(proxy_ca->proxy_ca_configmap, proxy_ca->proxy_ca_key, kProxyCAFileName, sp));
  if (custom && !custom->ca_configmap.empty())
    sources.emplace_back(config_map_source(custom->ca_configmap, "ca.crt", kCustomCAPath, sp));
  if (custom && !custom->ctb_signer.empty()) {
    json::object bundle(sp);
    bundle.reserve(4);
    bundle.emplace("signerName", custom->ctb_signer);
    if (!custom->ctb_label_selector.empty())
      bundle.emplace("labelSelector", json::value(json::parse(custom->ctb_label_selector), sp));
    bundle.emplace("path", kCustomCAPath);
    bundle.emplace("optional", false);
    json::object ctb_source(sp);
    ctb_source.emplace("clusterTrustBundle", std::move(bundle));
    sources.emplace_back(std::move(ctb_source));
  }
  return sources;
}

// The identity environment and token mount every container receives, as the JSON text the patch carries.
struct IdentityEnv {
  std::vector<std::pair<std::string_view, std::string>> vars;
  const TokenPaths* paths = nullptr;
  std::vector<std::string> entry_json;  // one {"name":...,"value":...} per variable
  std::string list_json;                // all of them as one list
  std::string mount_json;               // the token mount

  // Once `vars` and `paths` are complete.
  void render() {
    mount_json = "{\"name\":";
    json_text::append_quoted(mount_json, paths->volume);
    mount_json += ",\"mountPath\":";
    json_text::append_quoted(mount_json, paths->mount_path);
    mount_json += ",\"readOnly\":true}";
    entry_json.clear();
    list_json = "[";
    for (const auto& [name, value] : vars) {
      std::string& e = entry_json.emplace_back("{\"name\":");
      json_text::append_quoted(e, name);
      e += ",\"value\":";
      json_text::append_quoted(e, value);
      e += '}';
      if (list_json.size() > 1) list_json += ',';
      list_json += e;
    }
    list_json += ']';
  }
};

std::string container_label(const json::object& c, std::size_t index) {
  if (auto n = string_at(&c, field::name)) return std::string(*n);
  std::string out(1, '#');
  out += std::to_string(index);
  return out;
}

// Adds the identity environment and the token mount to one container, the `index`th of its list. Returns whether
// anything was added.
bool mutate_container(const json::object& c, std::size_t index, std::string_view path, const IdentityEnv& env,
                      PatchWriter& patch) {
  bool changed = false;
  const json::value* env_value = c.if_contains(field::env);
  if (!env_value || env_value->is_null()) {
    if (!env.vars.empty()) {
      patch.add(path, "/env", env.list_json);
      changed = true;
    }
  } else if (env_value->is_array()) {
    const json::array& list = env_value->get_array();
    for (std::size_t k = 0; k < env.vars.size(); ++k) {
      bool present = false;
      for (const auto& e : list)
        if (e.is_object() && string_at(&e.get_object(), "name") == env.vars[k].first) present = true;
      if (present) continue;
      patch.add(path, "/env/-", env.entry_json[k]);
      changed = true;
    }
  } else {
    throw Deny{"container " + container_label(c, index) + ": env is not a list"};
  }

  const json::value* mounts_value = c.if_contains(field::volume_mounts);
  if (!mounts_value || mounts_value->is_null()) {
    patch.add(path, "/volumeMounts", "[" + env.mount_json + "]");
    changed = true;
  } else if (mounts_value->is_array()) {
    const json::array& list = mounts_value->get_array();
    std::optional<std::size_t> found;
    for (std::size_t i = 0; i < list.size(); ++i)
      if (list[i].is_object() && string_at(&list[i].get_object(), field::name) == env.paths->volume) found = i;
    if (!found) {
      patch.add(path, "/volumeMounts/-", env.mount_json);
      changed = true;
    } else if (!is_token_mount(list[*found], *env.paths)) {
      patch.replace(path, "/volumeMounts/" + std::to_string(*found), env.mount_json);
      changed = true;
    }
  } else {
    throw Deny{"container " + container_label(c, index) + ": volumeMounts is not a list"};
  }
  return changed;
}

// The container list at spec[key]; null when absent. A non-list is a malformed pod.
const json::array* container_list(const json::object& spec, std::string_view key) {
  const json::value* v = spec.if_contains(key);
  if (!v || v->is_null()) return nullptr;
  if (!v->is_array()) throw Deny{"spec." + std::string(key) + " is not a list"};
  for (const auto& c : v->get_array())
    if (!c.is_object()) throw Deny{"spec." + std::string(key) + " holds an entry that is not an object"};
  return &v->get_array();
}

std::optional<std::size_t> index_of(const json::array* list, std::string_view name) {
  if (!list) return std::nullopt;
  for (std::size_t i = 0; i < list->size(); ++i)
    if (string_at(&(*list)[i].get_object(), field::name) == name) return i;
  return std::nullopt;
}

// A container list as the patch leaves it so far: the pod is never changed, so insertions are counted here.
struct ListState {
  bool exists = false;
  std::size_t size = 0;
  ListState(const json::array* list) : exists(list != nullptr), size(list ? list->size() : 0) {}
};

// Inserts a container, given as JSON text, at `index` of spec[key] (index >= size appends), creating the list when
// it is absent.
void insert_container(std::string_view key, ListState& list, std::size_t index, std::string_view text,
                      PatchWriter& patch) {
  std::string path = "/spec/";
  path += key;
  if (!list.exists) {
    std::string fresh = "[";
    fresh += text;
    fresh += ']';
    patch.add(path, "", fresh);
  } else {
    patch.add(path, index >= list.size ? std::string("/-") : "/" + std::to_string(index), text);
  }
  list.exists = true;
  ++list.size;
}

// {"requests": {...}, "limits": {...}} with the quantities that are set; empty when none is.
json::object resources_json(const Resources& r, const json::storage_ptr& sp) {
  auto part = [&](const std::string& cpu, const std::string& memory) {
    json::object o(sp);
    if (!cpu.empty()) o.emplace("cpu", cpu);
    if (!memory.empty()) o.emplace("memory", memory);
    return o;
  };
  json::object out(sp);
  if (auto requests = part(r.cpu_request, r.memory_request); !requests.empty()) out.emplace("requests", std::move(requests));
  if (auto limits = part(r.cpu_limit, r.memory_limit); !limits.empty()) out.emplace("limits", std::move(limits));
  return out;
}

json::object proxy_init_container(const Config& config, int port, const Resources& resources,
                                  const json::storage_ptr& sp) {
  json::object sc(sp);
  sc.reserve(5);
  sc.emplace("capabilities", json::object({{"add", json::array{"NET_ADMIN"}}, {"drop", json::array{"ALL"}}}, sp));
  sc.emplace("privileged", true);
  // iptables-restore writes nothing to the image (the nft backend takes no lock file; the image points the legacy
  // one's XTABLES_LOCKFILE at /dev/shm), so policies asking every container for a read-only root are met.
  sc.emplace("readOnlyRootFilesystem", true);
  sc.emplace("runAsNonRoot", false);
  sc.emplace("runAsUser", 0);
  json::object c(sp);
  c.reserve(6);
  c.emplace("name", kProxyInitName);
  c.emplace("image", config.proxy_init_image);
  c.emplace("imagePullPolicy", "IfNotPresent");
  json::array env(sp);
  env.emplace_back(env_var("PROXY_PORT", std::to_string(port), sp));
  c.emplace("env", std::move(env));
  if (auto r = resources_json(resources, sp); !r.empty()) c.emplace("resources", std::move(r));
  c.emplace("securityContext", std::move(sc));
  return c;
}

json::object proxy_container(const Config& config, int port, bool native, const Resources& resources,
                             const json::storage_ptr& sp) {
  std::string port_arg = "--proxy-port=" + std::to_string(port);
  json::object sc(sp);
  sc.reserve(6);
  sc.emplace("allowPrivilegeEscalation", false);
  sc.emplace("capabilities", json::object({{"drop", json::array{"ALL"}}}, sp));
  sc.emplace("privileged", false);
  sc.emplace("readOnlyRootFilesystem", true);
  sc.emplace("runAsNonRoot", true);
  // The init container's rules let exactly this UID's traffic reach the real metadata endpoint.
  sc.emplace("runAsUser", kProxyUid);
  json::object c(sp);
  c.reserve(9);
  c.emplace("name", kProxyName);
  c.emplace("image", config.proxy_image);
  c.emplace("imagePullPolicy", "IfNotPresent");
  c.emplace("args", json::array({port_arg, "--log-level=" + config.proxy_log_level}, sp));
  c.emplace("ports", json::array({json::object{{"containerPort", port}}}, sp));
  // The application starts only once the proxy answers: the kubelet runs postStart before the next container.
  c.emplace("lifecycle",
            json::object({{"postStart",
                           json::object{{"exec", json::object{{"command", json::array{kProxyBinary, "--probe", port_arg}}}}}}},
                         sp));
  if (auto r = resources_json(resources, sp); !r.empty()) c.emplace("resources", std::move(r));
  c.emplace("securityContext", std::move(sc));
  if (native) c.emplace("restartPolicy", "Always");
  return c;
}

// The proxy's two containers as JSON text, without the identity. They are a pure function of these settings, the
// same for nearly every pod, so each thread keeps the last rendering instead of building them for every admission.
struct ProxyTexts {
  std::string key;
  std::string init, proxy;
};
const ProxyTexts& proxy_texts(const Config& config, int port, bool native, const Resources& proxy_resources,
                              const Resources& init_resources) {
  thread_local ProxyTexts cache;
  thread_local std::string key;
  key.clear();
  for (std::string_view part : {std::string_view(config.proxy_image), std::string_view(config.proxy_init_image),
                                std::string_view(config.proxy_log_level)}) {
    key += part;
    key += '\0';
  }
  for (const Resources* r : {&proxy_resources, &init_resources})
    for (const std::string* q : {&r->cpu_request, &r->memory_request, &r->cpu_limit, &r->memory_limit}) {
      key += *q;
      key += '\0';
    }
  key += std::to_string(port);
  key += native ? "n" : "s";
  if (key != cache.key) {
    cache.init.clear();
    append_json(cache.init, proxy_init_container(config, port, init_resources, {}));
    cache.proxy.clear();
    append_json(cache.proxy, proxy_container(config, port, native, proxy_resources, {}));
    cache.key = key;
  }
  return cache;
}

// The proxy sidecar's text; with `env`, given the identity like any other container.
std::string proxy_container_json(std::string_view proxy, const IdentityEnv* env) {
  std::string out(proxy);
  if (env) {
    out.pop_back();  // the closing brace: env and the mount follow the proxy's own members
    if (!env->vars.empty()) {
      out += ",\"env\":";
      out += env->list_json;
    }
    out += ",\"volumeMounts\":[";
    out += env->mount_json;
    out += "]}";
  }
  return out;
}


// The IDENTITY_HEADER the pod's azwi-proxy container already has (a reinvocation, or the pod's own sidecar): kept,
// so that containers added since get the secret the sidecar checks.
std::optional<std::string_view> existing_identity_secret(const json::object& pod) {
  const json::object* spec = object_at(pod, field::spec);
  for (std::string_view key : {field::init_containers, field::containers}) {
    const json::value* list = spec ? spec->if_contains(key) : nullptr;
    if (!list || !list->is_array()) continue;
    for (const auto& c : list->get_array()) {
      if (!c.is_object() || string_at(&c.get_object(), field::name) != kProxyName) continue;
      const json::value* env = c.get_object().if_contains(field::env);
      if (!env || !env->is_array()) return std::nullopt;
      for (const auto& e : env->get_array())
        if (e.is_object() && string_at(&e.get_object(), "name") == std::string_view("IDENTITY_HEADER"))
          return string_at(&e.get_object(), "value");
      return std::nullopt;
    }
  }
  return std::nullopt;
}

}  // namespace

bool is_token_volume(std::string_view name) {
  return name == kTokenVolumeName || name.starts_with(kReservedVolumePrefix);
}

bool annotation_is_true(std::string_view value) { return ascii::iequals(value, "true"); }

std::string TokenPaths::dir(std::string_view file) const {
  std::string out(mount_path);
  out += '/';
  out += file;
  return out;
}

std::string reserved_volume_name(std::string_view name, std::string_view generate_name) {
  std::string subject = name.empty() ? std::string(generate_name) + " (prefix)" : std::string(name);
  return std::string(kReservedVolumePrefix) + azwi::jwt::sha256_hex(subject).substr(0, 30);
}

TokenPaths token_paths(const json::object& pod, TokenLayout layout) {
  const json::object* spec = object_at(pod, field::spec);
  const json::value* volumes = spec ? spec->if_contains(field::volumes) : nullptr;
  // A pod that already has a token volume (a reinvocation, a pod made by an older webhook) keeps its layout, so it
  // is never given a second one.
  if (volumes && volumes->is_array())
    for (const auto& v : volumes->get_array()) {
      auto name = v.is_object() ? string_at(&v.get_object(), field::name) : std::nullopt;
      if (!name) continue;
      if (name->starts_with(kReservedVolumePrefix)) return {std::string(*name), kWiMountPath, kWiTokenPath};
      if (*name == kTokenVolumeName) return {std::string(kTokenVolumeName), kTokenMountPath, kTokenFileName};
    }
  if (layout == TokenLayout::v1_5) return {std::string(kTokenVolumeName), kTokenMountPath, kTokenFileName};
  const json::object* meta = object_at(pod, field::metadata);
  return {reserved_volume_name(string_at(meta, field::name).value_or(""), string_at(meta, field::generate_name).value_or("")),
          kWiMountPath, kWiTokenPath};
}

std::string service_account_name(const json::object& pod) {
  const json::object* spec = object_at(pod, field::spec);
  auto name = string_at(spec, field::service_account_name);
  if (name && !name->empty()) return std::string(*name);
  return "default";
}

bool pod_opted_in(const json::object& pod) {
  const json::object* meta = object_at(pod, field::metadata);
  const json::object* labels = meta ? object_at(*meta, field::labels) : nullptr;
  return string_at(labels, kUseLabel) == std::string_view("true");
}

Mutation mutate_pod(const json::object& pod, const kube::ServiceAccount& sa, const Config& config,
                    ClusterVersion version) {
  Mutation m;
  PatchWriter patch(m.patch);
  const json::storage_ptr& sp = pod.storage();
  auto deny = [&](unsigned code, std::string message) {
    m.allowed = false;
    m.code = code;
    m.message = std::move(message);
    patch.clear();
    return std::move(m);
  };

  const json::object* meta = object_at(pod, field::metadata);
  const json::object* annotations = meta ? object_at(*meta, field::annotations) : nullptr;

  // Token lifetime: the pod's annotation wins over the service account's.
  std::optional<std::string_view> expiration_text = string_at(annotations, kTokenExpirationAnnotation);
  if (!expiration_text) {
    if (auto* s = sa.annotation(kTokenExpirationAnnotation)) expiration_text = *s;
  }
  m.token_expiration = kDefaultTokenExpiration;
  if (expiration_text) {
    auto v = parse_decimal(*expiration_text);
    if (!v || *v < kMinTokenExpiration || *v > kMaxTokenExpiration)
      return deny(400, "invalid value " + quoted(*expiration_text) + " for annotation " +
                           std::string(kTokenExpirationAnnotation) + ": expected a whole number of seconds from " +
                           std::to_string(kMinTokenExpiration) + " to " + std::to_string(kMaxTokenExpiration));
    m.token_expiration = static_cast<int>(*v);
  }

  // Unlike upstream, which injects whenever the key is present (its issue #1210), only "true" (any case) asks for
  // the proxy; "false" or anything else does not, and the log says so.
  auto inject_text = string_at(annotations, kInjectProxyAnnotation);
  bool inject_proxy = inject_text && annotation_is_true(*inject_text);
  if (inject_text && !inject_proxy)
    m.note = "no proxy injected: annotation " + std::string(kInjectProxyAnnotation) + " is " + quoted(*inject_text) +
             ", not \"true\"";
  int port = kDefaultProxyPort;
  Resources proxy_resources = config.proxy_resources, init_resources = config.proxy_init_resources;
  if (inject_proxy) {
    for (auto [key, target] : {std::pair{kProxyResourcesAnnotation, &proxy_resources},
                               std::pair{kProxyInitResourcesAnnotation, &init_resources}}) {
      auto text = string_at(annotations, key);
      if (!text) continue;
      try {
        *target = parse_resources(*text, *target);
      } catch (const std::invalid_argument& e) {
        return deny(400, "invalid value " + quoted(*text) + " for annotation " + std::string(key) + ": " + e.what());
      }
    }
    if (auto text = string_at(annotations, kProxyPortAnnotation)) {
      auto v = parse_decimal(*text);
      if (!v || *v < 1 || *v > 65535)
        return deny(400, "invalid value " + quoted(*text) + " for annotation " + std::string(kProxyPortAnnotation) +
                             ": expected a port number from 1 to 65535");
      port = static_cast<int>(*v);
    }
  }

  // The pod's mode, else the webhook's. The annotation is checked even when the proxy is not asked for: alone it
  // would leave a pod without a sidecar but, in cni mode, redirected to one.
  ProxyMode mode = config.proxy_mode;
  const bool mode_annotated = annotations && annotations->contains(kProxyModeAnnotation);
  if (mode_annotated) {
    auto text = string_at(annotations, kProxyModeAnnotation);
    auto parsed = text ? parse_proxy_mode(*text) : std::nullopt;
    if (!parsed)
      return deny(400, "invalid value " + quoted(text.value_or("")) + " for annotation " +
                           std::string(kProxyModeAnnotation) + ": expected " + std::string(kProxyModeChoices));
    if (!inject_proxy)
      return deny(400, "annotation " + std::string(kProxyModeAnnotation) +
                           " is set but the pod does not ask for the proxy sidecar: add the annotation " +
                           std::string(kInjectProxyAnnotation) + " or remove " + std::string(kProxyModeAnnotation));
    mode = *parsed;
  }
  if (inject_proxy) m.proxy_mode = proxy_mode_name(mode);

  std::set<std::string, std::less<>> skip;
  if (auto text = string_at(annotations, kSkipContainersAnnotation)) {
    std::string_view rest = *text;
    while (!rest.empty()) {
      auto semi = rest.find(';');
      auto name = ascii::trim(rest.substr(0, semi));
      if (!name.empty()) skip.emplace(name);
      rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
    }
  }
  // The init container only installs iptables rules and never needs the identity; leaving it alone also keeps
  // the mutation idempotent when it is reinvoked on its own output.
  skip.emplace(kProxyInitName);

  // The custom token endpoint, for a pod that opts in with its annotation.
  const CustomTokenEndpoint* custom = nullptr;
  if (config.custom_token_endpoint)
    if (auto v = string_at(annotations, config.custom_token_endpoint->annotation); v && annotation_is_true(*v))
      custom = &*config.custom_token_endpoint;
  const TokenPaths paths = token_paths(pod, config.token_layout);

  IdentityEnv env;
  env.paths = &paths;
  if (auto* id = sa.annotation(kClientIdAnnotation); id && !id->empty()) env.vars.emplace_back("AZURE_CLIENT_ID", *id);
  const std::string* tenant = sa.annotation(kTenantIdAnnotation);
  std::string tenant_id = tenant && !tenant->empty() ? *tenant : config.tenant_id;
  if (!tenant_id.empty()) env.vars.emplace_back("AZURE_TENANT_ID", tenant_id);
  env.vars.emplace_back("AZURE_FEDERATED_TOKEN_FILE", paths.dir(paths.token_path));
  if (!config.authority_host.empty()) env.vars.emplace_back("AZURE_AUTHORITY_HOST", config.authority_host);
  if (custom) {
    auto add = [&](std::string_view name, std::string value) {
      if (!value.empty()) env.vars.emplace_back(name, std::move(value));
    };
    add("AZURE_KUBERNETES_TOKEN_PROXY", custom->token_proxy);
    add("AZURE_KUBERNETES_SNI_NAME", custom->sni_name);
    if (!custom->ca_configmap.empty() || !custom->ctb_signer.empty())
      add("AZURE_KUBERNETES_CA_FILE", paths.dir(kCustomCAPath));
    add("AZURE_KUBERNETES_CA_DATA", custom->ca_data);
  }
  if (inject_proxy && mode == ProxyMode::identity_endpoint) {
    // The App Service protocol, which the SDKs choose before IMDS; the sidecar gets the same two variables and
    // checks the header against its own.
    std::string secret;
    if (auto kept = existing_identity_secret(pod); kept && !kept->empty()) {
      secret = *kept;
    } else {
      try {
        if (config.identity_secret) secret = config.identity_secret();
      } catch (const std::exception& e) {
        return deny(500, std::string("cannot draw the pod's IDENTITY_HEADER secret: ") + e.what());
      }
      if (secret.empty()) return deny(500, "cannot draw the pod's IDENTITY_HEADER secret: no source of secrets");
    }
    env.vars.emplace_back("IDENTITY_ENDPOINT",
                          "http://127.0.0.1:" + std::to_string(port) + std::string(kIdentityEndpointPath));
    env.vars.emplace_back("IDENTITY_HEADER", std::move(secret));
  }
  env.render();
  // The proxy's own: the identity and, with a CA ConfigMap, SSL_CERT_FILE naming the CA projected beside the token.
  // Only the sidecar trusts that CA; the application's containers keep their own trust store. A sidecar in
  // skip-containers receives nothing, so then the CA is not projected either.
  const bool proxy_ca = inject_proxy && !config.proxy_ca_configmap.empty() && !skip.contains(kProxyName);
  IdentityEnv proxy_ca_env;
  if (proxy_ca) {
    proxy_ca_env.vars = env.vars;
    proxy_ca_env.paths = &paths;
    proxy_ca_env.vars.emplace_back("SSL_CERT_FILE", paths.dir(kProxyCAFileName));
    proxy_ca_env.render();
  }
  const IdentityEnv& proxy_env = proxy_ca ? proxy_ca_env : env;

  try {
    const json::value* spec_value = pod.if_contains(field::spec);
    if (!spec_value || !spec_value->is_object()) return deny(400, "the pod has no spec");
    const json::object& spec = spec_value->get_object();

    if (inject_proxy) {
      const json::value* host_network = spec.if_contains(field::host_network);
      if (host_network && host_network->is_bool() && host_network->get_bool())
        return deny(400, "the proxy sidecar cannot be injected into a pod with hostNetwork: true, because " +
                             std::string(mode == ProxyMode::identity_endpoint
                                             ? "its loopback port would be the node's, open to every process there"
                                             : "its iptables rules would redirect the node's own metadata traffic") +
                             "; remove the annotation " + std::string(kInjectProxyAnnotation) + " or hostNetwork");
    }

    for (std::string_view key : {field::init_containers, field::containers}) {
      const json::array* list = container_list(spec, key);
      if (!list) continue;
      for (std::size_t i = 0; i < list->size(); ++i) {
        const json::object& c = (*list)[i].get_object();
        // Skipped by name only: an unnamed container's "#index" label is for logs, and the index moves when the
        // proxy is inserted before it, so skipping by it would not survive a reinvocation.
        if (auto real = string_at(&c, field::name); real && skip.contains(*real)) continue;
        std::string name = container_label(c, i);
        try {
          std::string path = "/spec/";
          path += key;
          path += '/';
          path += std::to_string(i);
          // A sidecar of the proxy's name already in the pod (a reinvocation, or the pod's own) is the proxy.
          const IdentityEnv& wanted = inject_proxy && name == kProxyName ? proxy_env : env;
          if (mutate_container(c, i, path, wanted, patch)) m.containers.push_back(name);
        } catch (Deny& d) {
          d.message = "spec." + std::string(key) + "[" + std::to_string(i) + "]: " + d.message;
          throw;
        }
      }
    }

    if (inject_proxy) {
      const json::array* init_list = container_list(spec, field::init_containers);
      const json::array* app_list = container_list(spec, field::containers);
      bool native = version.native_sidecars();
      auto exists = [&](std::string_view name) { return index_of(init_list, name) || index_of(app_list, name); };
      const bool proxy_exists = exists(kProxyName);
      const ProxyTexts& texts = proxy_texts(config, port, native, proxy_resources, init_resources);
      ListState init_state(init_list), app_state(app_list);
      std::optional<std::size_t> init_at = index_of(init_list, kProxyInitName);
      // Only init-container mode redirects from inside the pod; the other two need no privilege in it.
      if (mode == ProxyMode::init_container && !exists(kProxyInitName)) {
        std::size_t at = native || !init_list ? 0 : init_list->size();
        insert_container(field::init_containers, init_state, at, texts.init, patch);
        init_at = at;
      }
      if (!proxy_exists) {
        bool identity_in_proxy = !skip.contains(kProxyName);
        std::string text = proxy_container_json(texts.proxy, identity_in_proxy ? &proxy_env : nullptr);
        if (identity_in_proxy) m.containers.emplace_back(kProxyName);
        if (native) {
          insert_container(field::init_containers, init_state, init_at ? *init_at + 1 : 0, text, patch);
        } else {
          insert_container(field::containers, app_state, 0, text, patch);
        }
        m.proxy = native ? "native-sidecar" : "sidecar";
      }
    }

    json::object volume(sp);
    volume.emplace("name", paths.volume);
    json::array sources = token_sources(paths, m.token_expiration, custom ? custom->audience : config.audience,
                                        proxy_ca ? &config : nullptr, custom, sp);
    json::object projected(sp);
    projected.emplace("sources", sources);
    volume.emplace("projected", std::move(projected));
    const json::value* volumes_value = spec.if_contains(field::volumes);
    if (!volumes_value || volumes_value->is_null()) {
      json::array list(sp);
      list.emplace_back(std::move(volume));
      patch.add_value("/spec/volumes", "", list);
    } else if (volumes_value->is_array()) {
      const json::array& list = volumes_value->get_array();
      std::optional<std::size_t> found;
      for (std::size_t i = 0; i < list.size(); ++i)
        if (list[i].is_object() && string_at(&list[i].get_object(), field::name) == paths.volume) found = i;
      if (!found) {
        patch.add_value("/spec/volumes/-", "", volume);
      } else {
        // Compare only the sources: the API server adds defaultMode to what we wrote, and a reinvocation must
        // not rewrite the volume over that.
        const json::object* existing = object_at(list[*found].get_object(), "projected");
        const json::value* existing_sources = existing ? existing->if_contains("sources") : nullptr;
        if (!existing_sources || *existing_sources != json::value(sources, sp))
          patch.replace_value("/spec/volumes/", std::to_string(*found), volume);
      }
    } else {
      return deny(400, "spec.volumes is not a list");
    }
    if (inject_proxy && !mode_annotated) {
      static const std::string pointer = [] {
        std::string p = "/metadata/annotations/";
        for (char c : kProxyModeAnnotation) p += c == '/' ? std::string_view("~1") : std::string_view(&c, 1);
        return p;
      }();
      patch.add(pointer, "", quoted(m.proxy_mode));
    }
  } catch (const Deny& d) {
    return deny(400, "malformed pod: " + d.message);
  }
  patch.finish();
  m.patch_ops = patch.count();
  return m;
}

}  // namespace azwi::webhook
