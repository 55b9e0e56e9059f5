#include "webhook/admission.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <cstring>

#include "common/json_text.hpp"
#include "webhook/json_write.hpp"
#include "webhook/review_json.hpp"

namespace azwi::webhook {
namespace json = boost::json;

namespace {
constexpr std::string_view kV1 = "admission.k8s.io/v1";
constexpr std::string_view kV1beta1 = "admission.k8s.io/v1beta1";

std::string_view str(const json::object* o, std::string_view key) {
  if (!o) return {};
  const json::value* v = o->if_contains(key);
  return v && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
}

const json::object* obj(const json::object* o, std::string_view key) {
  if (!o) return nullptr;
  const json::value* v = o->if_contains(key);
  return v && v->is_object() ? &v->get_object() : nullptr;
}

Answer malformed(std::string message) {
  Answer a;
  a.http_status = 400;
  a.content_type = "text/plain; charset=utf-8";
  a.body = "malformed AdmissionReview: " + message + "\n";
  a.result = "malformed";
  a.message = std::move(message);
  return a;
}


void begin_response(std::string& out, const Review& r) {
  out += "{\"apiVersion\":";
  json_text::append_quoted(out, r.api_version);
  out += ",\"kind\":\"AdmissionReview\",\"response\":{\"uid\":";
  json_text::append_quoted(out, r.uid);
}
}  // namespace

namespace {
constexpr char kBase64Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// The two output characters of every 12-bit value, so that three input bytes take two lookups.
struct Base64Pairs {
  char pair[4096][2];
  constexpr Base64Pairs() : pair() {
    for (int v = 0; v < 4096; ++v) {
      pair[v][0] = kBase64Alphabet[v >> 6];
      pair[v][1] = kBase64Alphabet[v & 63];
    }
  }
};
constexpr Base64Pairs kBase64Pairs;

// Standard base64 with padding, appended to `out`. Table-driven rather than EVP_EncodeBlock, which costs about
// twice as much per byte, because every admission encodes its whole patch.
void append_base64(std::string& out, std::string_view data) {
  std::size_t at = out.size();
  out.resize(at + 4 * ((data.size() + 2) / 3));
  char* o = out.data() + at;
  const auto* in = reinterpret_cast<const unsigned char*>(data.data());
  std::size_t i = 0;
  // Six bytes at a time from one 8-byte load: four 12-bit values, eight characters.
  for (; i + 8 <= data.size(); i += 6, o += 8) {
    std::uint64_t w;
    std::memcpy(&w, in + i, 8);
    w = __builtin_bswap64(w) >> 16;  // the six bytes, most significant first, in the low 48 bits
    std::memcpy(o, kBase64Pairs.pair[(w >> 36) & 0xfff], 2);
    std::memcpy(o + 2, kBase64Pairs.pair[(w >> 24) & 0xfff], 2);
    std::memcpy(o + 4, kBase64Pairs.pair[(w >> 12) & 0xfff], 2);
    std::memcpy(o + 6, kBase64Pairs.pair[w & 0xfff], 2);
  }
  for (; i + 3 <= data.size(); i += 3, o += 4) {
    std::uint32_t v = (std::uint32_t{in[i]} << 16) | (std::uint32_t{in[i + 1]} << 8) | in[i + 2];
    std::memcpy(o, kBase64Pairs.pair[v >> 12], 2);
    std::memcpy(o + 2, kBase64Pairs.pair[v & 0xfff], 2);
  }
  if (std::size_t rest = data.size() - i; rest > 0) {
    std::uint32_t v = std::uint32_t{in[i]} << 16;
    if (rest == 2) v |= std::uint32_t{in[i + 1]} << 8;
    o[0] = kBase64Alphabet[v >> 18];
    o[1] = kBase64Alphabet[(v >> 12) & 63];
    o[2] = rest == 2 ? kBase64Alphabet[(v >> 6) & 63] : '=';
    o[3] = '=';
  }
}
}  // namespace

std::string base64_encode(std::string_view data) {
  std::string out;
  append_base64(out, data);
  return out;
}

std::string render_allowed(const Review& r, const json::array& patch) {
  std::string text;
  if (!patch.empty()) append_json(text, patch);
  return render_allowed_text(r, text);
}

std::string render_allowed_text(const Review& r, std::string_view patch) {
  std::string out;
  out.reserve(160 + 4 * ((patch.size() + 2) / 3));
  begin_response(out, r);
  out += ",\"allowed\":true";
  if (!patch.empty()) {
    out += ",\"patchType\":\"JSONPatch\",\"patch\":\"";
    append_base64(out, patch);
    out += '"';
  }
  out += "}}";
  return out;
}

std::string render_denied(const Review& r, unsigned code, std::string_view message) {
  std::string out;
  out.reserve(256 + message.size());
  begin_response(out, r);
  out += ",\"allowed\":false,\"status\":{\"code\":";
  out += std::to_string(code);
  out += ",\"message\":";
  json_text::append_quoted(out, message);
  out += "}}}";
  return out;
}

std::variant<Review, Answer> parse_review(std::string_view body, json::storage_ptr sp, bool whole) {
  json::error_code ec;
  ReviewJson parsed = parse_review_json(body, sp, whole, ec);
  if (ec) return malformed("the body is not JSON (" + ec.message() + ")");
  json::value& doc = parsed.document;
  if (!doc.is_object()) return malformed("the body is not a JSON object");
  const json::object& root = doc.get_object();
  Review r(sp);
  r.api_version = std::string(str(&root, "apiVersion"));
  if (r.api_version != kV1 && r.api_version != kV1beta1)
    return malformed("apiVersion is \"" + r.api_version + "\"; expected " + std::string(kV1) + " or " +
                     std::string(kV1beta1));
  if (str(&root, "kind") != "AdmissionReview")
    return malformed("kind is \"" + std::string(str(&root, "kind")) + "\"; expected AdmissionReview");
  const json::object* req = obj(&root, "request");
  if (!req) return malformed("the review has no request object");
  r.uid = std::string(str(req, "uid"));
  if (r.uid.empty()) return malformed("the review has no request.uid");

  // From here on the API server can be told why, in a review it understands.
  r.operation = std::string(str(req, "operation"));
  r.kind = std::string(str(obj(req, "kind"), "kind"));
  if (const json::value* d = req->if_contains("dryRun"); d && d->is_bool()) r.dry_run = d->get_bool();
  r.ns = std::string(str(req, "namespace"));
  json::value* pod = doc.get_object().at("request").get_object().if_contains("object");
  if (pod && pod->is_object()) {
    r.pod_members = parsed.pod_members;
    r.pod = std::move(pod->get_object());
    const json::object* meta = obj(&r.pod, "metadata");
    if (r.ns.empty()) r.ns = std::string(str(meta, "namespace"));
    r.pod_name = std::string(str(meta, "name"));
    if (r.pod_name.empty()) r.pod_name = std::string(str(meta, "generateName"));
    r.service_account = service_account_name(r.pod);
  }
  return r;
}

Answer skip(const Review& r, std::string why) {
  Answer a;
  a.body = render_allowed(r, {});
  a.result = "skipped";
  a.message = std::move(why);
  return a;
}

std::optional<Answer> precheck(const Review& r) {
  if (r.operation != "CREATE") return skip(r, "operation " + r.operation + " is not CREATE");
  if (!r.kind.empty() && r.kind != "Pod") return skip(r, "kind " + r.kind + " is not Pod");
  if (r.pod_members == 0) return denied(r, 400, "request.object is not a pod");
  if (!pod_opted_in(r.pod)) return skip(r, "the pod is not labelled azure.workload.identity/use: \"true\"");
  if (r.ns.empty()) return denied(r, 400, "the review names no namespace for the pod");
  return std::nullopt;
}

Answer denied(const Review& r, unsigned code, std::string message) {
  Answer a;
  a.body = render_denied(r, code, message);
  a.result = code >= 500 ? "error" : "denied";
  a.message = std::move(message);
  return a;
}

Answer decide(Review& r, const kube::FetchResult& lookup, const Config& config, ClusterVersion version) {
  if (!lookup.sa) {
    if (lookup.not_found)
      return denied(r, 400,
                    "service account \"" + r.service_account + "\" not found in namespace \"" + r.ns +
                        "\": create it (with the azure.workload.identity/client-id annotation) before the pod");
    return denied(r, 500,
                  "cannot read service account \"" + r.ns + "/" + r.service_account + "\" from the Kubernetes API: " +
                      lookup.error);
  }
  Mutation m = mutate_pod_in_place(r.pod, *lookup.sa, config, version, /*patch_as_text=*/true);
  if (!m.allowed) return denied(r, m.code, std::move(m.message));
  Answer a;
  a.body = render_allowed_text(r, m.patch_text);
  a.result = m.patch_ops == 0 ? "unchanged" : "mutated";
  a.patch_ops = m.patch_ops;
  a.containers = std::move(m.containers);
  a.proxy = std::move(m.proxy);
  a.proxy_mode = m.proxy_mode;
  a.token_expiration = m.token_expiration;
  a.message = std::move(m.note);  // logged as the reason: why no proxy was injected
  return a;
}

}  // namespace azwi::webhook
