#include "kube/objects.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "common/base64.hpp"
#include "http/client_types.hpp"
#include "kube/client.hpp"

namespace azwi::kube {
namespace json = boost::json;

namespace {

const char* kSecretsPath = "/api/v1/namespaces/";
const char* kWebhookConfigurationsPath = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/";

std::string text_at(const json::object& o, std::string_view section, std::string_view key) {
  auto* s = o.if_contains(section);
  if (!s || !s->is_object()) return {};
  auto* v = s->get_object().if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

std::string secret_path(std::string_view ns, std::string_view name) {
  std::string p(kSecretsPath);  // appended, not "+"-joined: g++ 12 warns falsely on that (-Wrestrict, GCC bug 105329)
  p += http::form_encode(ns);
  p += "/secrets";
  if (!name.empty()) {
    p += '/';
    p += http::form_encode(name);
  }
  return p;
}

// One request's answer in the API's terms; `object` is filled from a 200 or 201 body.
template <class T>
ApiResult<T> result_of(const ApiClient::Response& r) {
  ApiResult<T> out;
  if (!r.error.empty()) {
    out.error = r.error;
    return out;
  }
  if (r.status == 200 || r.status == 201) {
    json::error_code ec;
    json::value v = json::parse(r.body, ec);
    if (ec || !v.is_object()) {
      out.error = "HTTP " + std::to_string(r.status) + ": the answer is not a JSON object";
      return out;
    }
    out.outcome = Outcome::ok;
    out.object = T(std::move(v.get_object()));
    return out;
  }
  out.outcome = r.status == 404   ? Outcome::not_found
                : r.status == 409 ? Outcome::conflict
                : r.status == 403 ? Outcome::forbidden
                                  : Outcome::failed;
  out.error = api_status_message(r.status, r.body);
  return out;
}

}  // namespace

std::string_view outcome_name(Outcome outcome) {
  switch (outcome) {
    case Outcome::ok: return "ok";
    case Outcome::not_found: return "NotFound";
    case Outcome::conflict: return "Conflict";
    case Outcome::forbidden: return "Forbidden";
    case Outcome::failed: return "failed";
  }
  return "failed";
}

Secret Secret::make(std::string_view ns, std::string_view name) {
  return Secret(json::object{{"apiVersion", "v1"},
                             {"kind", "Secret"},
                             {"type", "Opaque"},
                             {"metadata", {{"name", name}, {"namespace", ns}}}});
}

std::string Secret::ns() const { return text_at(object_, "metadata", "namespace"); }
std::string Secret::name() const { return text_at(object_, "metadata", "name"); }
std::string Secret::resource_version() const { return text_at(object_, "metadata", "resourceVersion"); }

std::optional<std::string> Secret::data(std::string_view key) const {
  auto* data = object_.if_contains("data");
  if (!data || !data->is_object()) return std::nullopt;
  auto* v = data->get_object().if_contains(key);
  if (!v || !v->is_string()) return std::nullopt;
  return base64_decode(std::string_view(v->get_string()));
}

void Secret::set_data(const std::vector<std::pair<std::string, std::string>>& entries) {
  json::object data;
  for (const auto& [k, v] : entries) data[k] = base64_encode(v);
  object_["data"] = std::move(data);
}

void Secret::set_label(std::string_view key, std::string_view value) {
  auto& meta = object_["metadata"];
  if (!meta.is_object()) meta = json::object();
  auto& labels = meta.get_object()["labels"];
  if (!labels.is_object()) labels = json::object();
  labels.get_object()[key] = value;
}

std::string MutatingWebhookConfiguration::name() const { return text_at(object_, "metadata", "name"); }
std::string MutatingWebhookConfiguration::resource_version() const {
  return text_at(object_, "metadata", "resourceVersion");
}

std::size_t MutatingWebhookConfiguration::webhook_count() const {
  auto* hooks = object_.if_contains("webhooks");
  return hooks && hooks->is_array() ? hooks->get_array().size() : 0;
}

int MutatingWebhookConfiguration::set_ca_bundle(std::string_view pem) {
  auto* hooks = object_.if_contains("webhooks");
  if (!hooks || !hooks->is_array()) return 0;
  const std::string bundle = base64_encode(pem);
  int changed = 0;
  for (auto& h : hooks->get_array()) {
    if (!h.is_object()) continue;
    auto& cc = h.get_object()["clientConfig"];
    if (!cc.is_object()) cc = json::object();
    auto* current = cc.get_object().if_contains("caBundle");
    if (current && current->is_string() && current->get_string() == bundle) continue;
    cc.get_object()["caBundle"] = bundle;
    ++changed;
  }
  return changed;
}

ApiResult<Secret> ObjectClient::get_secret(std::string_view ns, std::string_view name) {
  return result_of<Secret>(api_.request("GET", secret_path(ns, name)));
}

ApiResult<Secret> ObjectClient::create_secret(const Secret& secret) {
  return result_of<Secret>(api_.request("POST", secret_path(secret.ns(), ""), json::serialize(secret.json())));
}

ApiResult<Secret> ObjectClient::update_secret(const Secret& secret) {
  return result_of<Secret>(
      api_.request("PUT", secret_path(secret.ns(), secret.name()), json::serialize(secret.json())));
}

ApiResult<MutatingWebhookConfiguration> ObjectClient::get_mutating_webhook_configuration(std::string_view name) {
  return result_of<MutatingWebhookConfiguration>(
      api_.request("GET", kWebhookConfigurationsPath + http::form_encode(name)));
}

ApiResult<MutatingWebhookConfiguration> ObjectClient::update_mutating_webhook_configuration(
    const MutatingWebhookConfiguration& config) {
  return result_of<MutatingWebhookConfiguration>(api_.request(
      "PUT", kWebhookConfigurationsPath + http::form_encode(config.name()), json::serialize(config.json())));
}

}  // namespace azwi::kube
