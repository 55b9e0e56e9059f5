#include "webhook/mutation.hpp"

#include "common/json_text.hpp"
#include "jwt/digest.hpp"
#include "webhook/json_write.hpp"

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

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
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

// Records operations either as JSON values (the pure function's result) or straight as JSON text (the admission
// path, which only needs the text). In text mode a value that exists only to be written is passed as ready text and
// never built; the table tests check that both modes produce the same patch for every case.
class PatchWriter {
 public:
  PatchWriter(json::array& ops, std::string* text) : ops_(ops), text_(text), sp_(ops.storage()) {}
  bool text_only() const { return text_ != nullptr; }

  // `path` + `suffix` is the JSON pointer; `json` is the value's text, `make()` builds the value when values are kept.
  template <class Make>
  void add(std::string_view path, std::string_view suffix, std::string_view json, Make&& make) {
    if (text_) return text_op("add", path, suffix, [&] { *text_ += json; });
    value_op("add", path, suffix, make());
  }
  template <class Make>
  void replace(std::string_view path, std::string_view suffix, std::string_view json, Make&& make) {
    if (text_) return text_op("replace", path, suffix, [&] { *text_ += json; });
    value_op("replace", path, suffix, make());
  }
  // For values that are built anyway.
  template <class V>
  void add_value(std::string_view path, std::string_view suffix, const V& value) {
    if (text_) return text_op("add", path, suffix, [&] { append_json(*text_, value); });
    value_op("add", path, suffix, value);
  }
  template <class V>
  void replace_value(std::string_view path, std::string_view suffix, const V& value) {
    if (text_) return text_op("replace", path, suffix, [&] { append_json(*text_, value); });
    value_op("replace", path, suffix, value);
  }

  std::size_t count() const { return count_; }
  void clear() {
    ops_.clear();
    if (text_) text_->clear();
    count_ = 0;
  }
  void finish() {
    if (text_ && count_) *text_ += ']';
  }

 private:
  template <class WriteValue>
  void text_op(std::string_view name, std::string_view path, std::string_view suffix, WriteValue&& write_value) {
    ++count_;
    *text_ += count_ == 1 ? "[{\"op\":\"" : ",{\"op\":\"";
    *text_ += name;
    // Pointers are made of the webhook's own key names and indices: nothing in them needs escaping.
    *text_ += "\",\"path\":\"";
    *text_ += path;
    *text_ += suffix;
    *text_ += "\",\"value\":";
    write_value();
    *text_ += '}';
  }
  template <class V>
  void value_op(std::string_view name, std::string_view path, std::string_view suffix, const V& value) {
    ++count_;
    std::string pointer(path);
    pointer += suffix;
    json::object o(sp_);
    o.reserve(3);
    o.emplace("op", name);
    o.emplace("path", pointer);
    o.emplace("value", json::value(value, sp_));
    ops_.emplace_back(std::move(o));
  }
  json::array& ops_;
  std::string* text_;
  json::storage_ptr sp_;
  std::size_t count_ = 0;
};

json::object env_var(std::string_view name, std::string_view value, const json::storage_ptr& sp) {
  json::object o(sp);
  o.reserve(2);
  o.emplace("name", name);
  o.emplace("value", value);
  return o;
}

json::object token_mount(const TokenPaths& paths, const json::storage_ptr& sp) {
  json::object m(sp);
  m.reserve(3);
  m.emplace("name", paths.volume);
  m.emplace("mountPath", paths.mount_path);
  m.emplace("readOnly", true);
  return m;
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

// The identity environment and token mount every container receives, with their JSON text when the patch is kept
// as text.
struct IdentityEnv {
  std::vector<std::pair<std::string_view, std::string>> vars;
  const TokenPaths* paths = nullptr;
  std::vector<std::string> entry_json;  // one {"name":...,"value":...} per variable
  std::string list_json;                // all of them as one list
  std::string mount_json;               // the token mount

  json::object mount(const json::storage_ptr& sp) const { return token_mount(*paths, sp); }
  void render() {
    append_json(mount_json, mount({}));
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
  json::array list(const json::storage_ptr& sp) const {
    json::array a(sp);
    a.reserve(vars.size());
    for (const auto& [name, value] : vars) a.emplace_back(env_var(name, value, sp));
    return a;
  }
};

std::string container_label(const json::object& c, std::size_t index) {
  if (auto n = string_at(&c, "name")) return std::string(*n);
  std::string out(1, '#');
  out += std::to_string(index);
  return out;
}

// Adds the identity environment and the token mount to one container. `patch` null: change the object only
// (used for a container that is itself about to be added). Returns whether anything changed.
bool mutate_container(json::object& c, std::string_view path, const IdentityEnv& env, PatchWriter* patch) {
  const json::storage_ptr& sp = c.storage();
  // When only the patch text is kept, the pod's own containers need not change: nothing later reads them.
  const bool keep_dom = !patch || !patch->text_only();
  bool changed = false;
  json::value* env_value = c.if_contains("env");
  if (!env_value || env_value->is_null()) {
    if (!env.vars.empty()) {
      if (patch) patch->add(path, "/env", env.list_json, [&] { return env.list(sp); });
      if (keep_dom) c["env"] = env.list(sp);
      changed = true;
    }
  } else if (env_value->is_array()) {
    json::array& list = env_value->get_array();
    for (std::size_t k = 0; k < env.vars.size(); ++k) {
      const auto& var = env.vars[k];  // not a structured binding: clang 14 cannot capture those
      bool present = false;
      for (const auto& e : list)
        if (e.is_object() && string_at(&e.get_object(), "name") == var.first) present = true;
      if (present) continue;
      auto make = [&] { return env_var(var.first, var.second, sp); };
      if (patch) patch->add(path, "/env/-", patch->text_only() ? env.entry_json[k] : "", make);
      if (keep_dom) list.emplace_back(make());
      changed = true;
    }
  } else {
    throw Deny{"container " + container_label(c, 0) + ": env is not a list"};
  }

  json::value* mounts_value = c.if_contains("volumeMounts");
  if (!mounts_value || mounts_value->is_null()) {
    auto make_list = [&] {
      json::array list(sp);
      list.emplace_back(env.mount(sp));
      return list;
    };
    if (patch) patch->add(path, "/volumeMounts", "[" + env.mount_json + "]", make_list);
    if (keep_dom) c["volumeMounts"] = make_list();
    changed = true;
  } else if (mounts_value->is_array()) {
    json::array& list = mounts_value->get_array();
    std::optional<std::size_t> found;
    for (std::size_t i = 0; i < list.size(); ++i)
      if (list[i].is_object() && string_at(&list[i].get_object(), "name") == env.paths->volume) found = i;
    if (!found) {
      if (patch) patch->add(path, "/volumeMounts/-", env.mount_json, [&] { return env.mount(sp); });
      if (keep_dom) list.emplace_back(env.mount(sp));
      changed = true;
    } else if (list[*found] != json::value(env.mount(sp), sp)) {
      if (patch)
        patch->replace(path, "/volumeMounts/" + std::to_string(*found), env.mount_json,
                       [&] { return env.mount(sp); });
      if (keep_dom) list[*found] = env.mount(sp);
      changed = true;
    }
  } else {
    throw Deny{"container " + container_label(c, 0) + ": volumeMounts is not a list"};
  }
  return changed;
}

// The container list at spec[key]; null when absent. A non-list is a malformed pod.
json::array* container_list(json::object& spec, std::string_view key) {
  json::value* v = spec.if_contains(key);
  if (!v || v->is_null()) return nullptr;
  if (!v->is_array()) throw Deny{"spec." + std::string(key) + " is not a list"};
  for (const auto& c : v->get_array())
    if (!c.is_object()) throw Deny{"spec." + std::string(key) + " holds an entry that is not an object"};
  return &v->get_array();
}

std::optional<std::size_t> index_of(const json::array* list, std::string_view name) {
  if (!list) return std::nullopt;
  for (std::size_t i = 0; i < list->size(); ++i)
    if (string_at(&(*list)[i].get_object(), "name") == name) return i;
  return std::nullopt;
}

// Inserts a container at `index` of spec[key] (index == size appends), creating the list when absent. With a
// text-only patch the container's ready JSON text goes to the patch and the pod gets a stand-in holding only its
// name, which is all the rest of the mutation looks at; otherwise `build()` makes the container.
template <class Build>
void insert_container(json::object& spec, std::string_view key, std::size_t index, std::string_view name,
                      const std::string* text, Build&& build, PatchWriter& patch) {
  std::string path = "/spec/";
  path += key;
  json::object value(spec.storage());
  if (patch.text_only()) {
    value.emplace("name", name);
  } else {
    value = build();
  }
  json::array* list = container_list(spec, key);
  if (!list) {
    json::array fresh(spec.storage());
    fresh.emplace_back(std::move(value));
    if (patch.text_only()) {
      patch.add(path, "", "[" + *text + "]", [] { return json::value(); });
    } else {
      patch.add_value(path, "", fresh);
    }
    spec[key] = std::move(fresh);
    return;
  }
  std::string suffix = index >= list->size() ? std::string("/-") : "/" + std::to_string(index);
  if (patch.text_only()) {
    patch.add(path, suffix, *text, [] { return json::value(); });
  } else {
    patch.add_value(path, suffix, value);
  }
  if (index >= list->size()) {
    list->emplace_back(std::move(value));
  } else {
    list->insert(list->begin() + static_cast<std::ptrdiff_t>(index), std::move(value));
  }
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
  c.reserve(11);  // with the env and volumeMounts added to it
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

// The proxy's two containers as JSON text. They are the same for every pod with the same settings, so the
// admission path renders them once per thread and settings instead of once per pod.
struct ProxyTexts {
  std::string key;
  std::string init, proxy;
};
const ProxyTexts& proxy_texts(const Config& config, int port, bool native, const IdentityEnv* env,
                              const Resources& proxy_resources, const Resources& init_resources) {
  thread_local ProxyTexts cache;
  std::string key;
  key.reserve(256);
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
  if (env) {
    key += env->list_json;
    key += env->mount_json;
  }
  if (key != cache.key) {
    cache.init.clear();
    append_json(cache.init, proxy_init_container(config, port, init_resources, {}));
    json::object proxy = proxy_container(config, port, native, proxy_resources, {});
    if (env) mutate_container(proxy, "", *env, nullptr);
    cache.proxy.clear();
    append_json(cache.proxy, proxy);
    cache.key = std::move(key);
  }
  return cache;
}

bool equals_true(std::string_view v) {
  return v.size() == 4 && std::tolower(static_cast<unsigned char>(v[0])) == 't' &&
         std::tolower(static_cast<unsigned char>(v[1])) == 'r' && std::tolower(static_cast<unsigned char>(v[2])) == 'u' &&
         std::tolower(static_cast<unsigned char>(v[3])) == 'e';
}

// The IDENTITY_HEADER the pod's azwi-proxy container already has (a reinvocation, or the pod's own sidecar): kept,
// so that containers added since get the secret the sidecar checks.
std::optional<std::string_view> existing_identity_secret(const json::object& pod) {
  const json::object* spec = object_at(pod, "spec");
  for (std::string_view key : {std::string_view("initContainers"), std::string_view("containers")}) {
    const json::value* list = spec ? spec->if_contains(key) : nullptr;
    if (!list || !list->is_array()) continue;
    for (const auto& c : list->get_array()) {
      if (!c.is_object() || string_at(&c.get_object(), "name") != kProxyName) continue;
      const json::value* env = c.get_object().if_contains("env");
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

bool annotation_is_true(std::string_view value) { return equals_true(value); }

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
  const json::object* spec = object_at(pod, "spec");
  const json::value* volumes = spec ? spec->if_contains("volumes") : nullptr;
  // A pod that already has a token volume (a reinvocation, a pod made by an older webhook) keeps its layout, so it
  // is never given a second one.
  if (volumes && volumes->is_array())
    for (const auto& v : volumes->get_array()) {
      auto name = v.is_object() ? string_at(&v.get_object(), "name") : std::nullopt;
      if (!name) continue;
      if (name->starts_with(kReservedVolumePrefix)) return {std::string(*name), kWiMountPath, kWiTokenPath};
      if (*name == kTokenVolumeName) return {std::string(kTokenVolumeName), kTokenMountPath, kTokenFileName};
    }
  if (layout == TokenLayout::v1_5) return {std::string(kTokenVolumeName), kTokenMountPath, kTokenFileName};
  const json::object* meta = object_at(pod, "metadata");
  return {reserved_volume_name(string_at(meta, "name").value_or(""), string_at(meta, "generateName").value_or("")),
          kWiMountPath, kWiTokenPath};
}

std::string service_account_name(const json::object& pod) {
  const json::object* spec = object_at(pod, "spec");
  auto name = string_at(spec, "serviceAccountName");
  if (name && !name->empty()) return std::string(*name);
  return "default";
}

bool pod_opted_in(const json::object& pod) {
  const json::object* meta = object_at(pod, "metadata");
  const json::object* labels = meta ? object_at(*meta, "labels") : nullptr;
  return string_at(labels, kUseLabel) == std::string_view("true");
}

Mutation mutate_pod(const json::object& original, const kube::ServiceAccount& sa, const Config& config,
                    ClusterVersion version, json::storage_ptr sp) {
  json::object pod(original, sp);
  Mutation m = mutate_pod_in_place(pod, sa, config, version);
  if (m.allowed) {
    m.pod = std::move(pod);
  } else {
    m.pod = original;
  }
  return m;
}

Mutation mutate_pod_in_place(json::object& pod, const kube::ServiceAccount& sa, const Config& config,
                             ClusterVersion version, bool patch_as_text) {
  Mutation m(pod.storage());
  PatchWriter patch(m.patch, patch_as_text ? &m.patch_text : nullptr);
  const json::storage_ptr& sp = pod.storage();
  auto deny = [&](unsigned code, std::string message) {
    m.allowed = false;
    m.code = code;
    m.message = std::move(message);
    patch.clear();
    return std::move(m);
  };

  const json::object* meta = object_at(pod, "metadata");
  const json::object* annotations = meta ? object_at(*meta, "annotations") : nullptr;

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
  bool inject_proxy = inject_text && equals_true(*inject_text);
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
      auto name = trim(rest.substr(0, semi));
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
    if (auto v = string_at(annotations, config.custom_token_endpoint->annotation); v && equals_true(*v))
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
  if (patch.text_only()) env.render();
  // The proxy's own: the identity and, with a CA ConfigMap, SSL_CERT_FILE naming the CA projected beside the token.
  // Only the sidecar trusts that CA; the application's containers keep their own trust store. A sidecar in
  // skip-containers receives nothing, so then the CA is not projected either.
  const bool proxy_ca = inject_proxy && !config.proxy_ca_configmap.empty() && !skip.contains(kProxyName);
  IdentityEnv proxy_ca_env;
  if (proxy_ca) {
    proxy_ca_env.vars = env.vars;
    proxy_ca_env.paths = &paths;
    proxy_ca_env.vars.emplace_back("SSL_CERT_FILE", paths.dir(kProxyCAFileName));
    if (patch.text_only()) proxy_ca_env.render();
  }
  const IdentityEnv& proxy_env = proxy_ca ? proxy_ca_env : env;

  try {
    json::value* spec_value = pod.if_contains("spec");
    if (!spec_value || !spec_value->is_object()) return deny(400, "the pod has no spec");
    json::object& spec = spec_value->get_object();

    if (inject_proxy) {
      const json::value* host_network = spec.if_contains("hostNetwork");
      if (host_network && host_network->is_bool() && host_network->get_bool())
        return deny(400, "the proxy sidecar cannot be injected into a pod with hostNetwork: true, because " +
                             std::string(mode == ProxyMode::identity_endpoint
                                             ? "its loopback port would be the node's, open to every process there"
                                             : "its iptables rules would redirect the node's own metadata traffic") +
                             "; remove the annotation " + std::string(kInjectProxyAnnotation) + " or hostNetwork");
    }

    for (std::string_view key : {std::string_view("initContainers"), std::string_view("containers")}) {
      json::array* list = container_list(spec, key);
      if (!list) continue;
      for (std::size_t i = 0; i < list->size(); ++i) {
        json::object& c = (*list)[i].get_object();
        // Skipped by name only: an unnamed container's "#index" label is for logs, and the index moves when the
        // proxy is inserted before it, so skipping by it would not survive a reinvocation.
        if (auto real = string_at(&c, "name"); real && skip.contains(*real)) continue;
        std::string name = container_label(c, i);
        try {
          std::string path = "/spec/";
          path += key;
          path += '/';
          path += std::to_string(i);
          // A sidecar of the proxy's name already in the pod (a reinvocation, or the pod's own) is the proxy.
          const IdentityEnv& wanted = inject_proxy && name == kProxyName ? proxy_env : env;
          if (mutate_container(c, path, wanted, &patch))
            m.containers.push_back(name);
        } catch (Deny& d) {
          d.message = "spec." + std::string(key) + "[" + std::to_string(i) + "]: " + d.message;
          throw;
        }
      }
    }

    if (inject_proxy) {
      bool native = version.native_sidecars();
      auto exists = [&](std::string_view name) {
        return index_of(container_list(spec, "initContainers"), name) ||
               index_of(container_list(spec, "containers"), name);
      };
      bool identity_in_proxy = !skip.contains(kProxyName);
      const ProxyTexts* texts =
          patch.text_only() ? &proxy_texts(config, port, native, identity_in_proxy ? &proxy_env : nullptr,
                                           proxy_resources, init_resources)
                            : nullptr;
      // Only init-container mode redirects from inside the pod; the other two need no privilege in it.
      if (mode == ProxyMode::init_container && !exists(kProxyInitName)) {
        json::array* init = container_list(spec, "initContainers");
        std::size_t at = native || !init ? 0 : init->size();
        insert_container(spec, "initContainers", at, kProxyInitName, texts ? &texts->init : nullptr,
                         [&] { return proxy_init_container(config, port, init_resources, sp); }, patch);
      }
      if (!exists(kProxyName)) {
        auto build = [&] {
          json::object proxy = proxy_container(config, port, native, proxy_resources, sp);
          if (identity_in_proxy) mutate_container(proxy, "", proxy_env, nullptr);
          return proxy;
        };
        if (identity_in_proxy) m.containers.emplace_back(kProxyName);
        if (native) {
          auto init_at = index_of(container_list(spec, "initContainers"), kProxyInitName);
          insert_container(spec, "initContainers", init_at ? *init_at + 1 : 0, kProxyName,
                           texts ? &texts->proxy : nullptr, build, patch);
        } else {
          insert_container(spec, "containers", 0, kProxyName, texts ? &texts->proxy : nullptr, build, patch);
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
    json::value* volumes_value = spec.if_contains("volumes");
    if (!volumes_value || volumes_value->is_null()) {
      json::array list(sp);
      list.emplace_back(volume);
      patch.add_value("/spec/volumes", "", list);
      spec["volumes"] = std::move(list);
    } else if (volumes_value->is_array()) {
      json::array& list = volumes_value->get_array();
      std::optional<std::size_t> found;
      for (std::size_t i = 0; i < list.size(); ++i)
        if (list[i].is_object() && string_at(&list[i].get_object(), "name") == paths.volume) found = i;
      if (!found) {
        patch.add_value("/spec/volumes/-", "", volume);
        list.emplace_back(std::move(volume));
      } else {
        // Compare only the sources: the API server adds defaultMode to what we wrote, and a reinvocation must
        // not rewrite the volume over that.
        const json::object* existing = object_at(list[*found].get_object(), "projected");
        const json::value* existing_sources = existing ? existing->if_contains("sources") : nullptr;
        if (!existing_sources || *existing_sources != json::value(sources, sp)) {
          patch.replace_value("/spec/volumes/", std::to_string(*found), volume);
          list[*found] = std::move(volume);
        }
      }
    } else {
      return deny(400, "spec.volumes is not a list");
    }
    // Last: adding a key may move the annotation strings read above.
    if (inject_proxy && !mode_annotated) {
      json::object& all = pod["metadata"].get_object()["annotations"].get_object();
      static const std::string pointer = [] {
        std::string p = "/metadata/annotations/";
        for (char c : kProxyModeAnnotation) p += c == '/' ? std::string_view("~1") : std::string_view(&c, 1);
        return p;
      }();
      patch.add(pointer, "", quoted(m.proxy_mode),
                [&] { return json::value(m.proxy_mode, sp); });
      all[kProxyModeAnnotation] = m.proxy_mode;
    }
  } catch (const Deny& d) {
    return deny(400, "malformed pod: " + d.message);
  }
  patch.finish();
  m.patch_ops = patch.count();
  return m;
}

}  // namespace azwi::webhook
