#include "kube/client.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <charconv>
#include <fstream>
#include <sstream>

#include "common/files.hpp"
#include "common/log.hpp"
#include "common/text.hpp"
#include "http/asio_client.hpp"
#include "kube/list_stream.hpp"

namespace azwi::kube {
namespace json = boost::json;

namespace {
constexpr std::size_t kMaxWatchLine = 16 * 1024 * 1024;
constexpr const char* kUserAgent = "azwi-webhook/" AZWI_VERSION;
// One answer read whole (an object, a Status): far beyond what one object takes. List pages are streamed instead
// (kube/list_stream.hpp has their bounds).
constexpr std::size_t kMaxResponseBody = 16 * 1024 * 1024;
// One list page, streamed: a server that ignores `limit` sends every account at once (about 150 MiB for 100,000).
constexpr std::chrono::seconds kListPageTimeout{60};

std::string path_escape(std::string_view s) { return http::form_encode(s); }

int leading_int(std::string_view s) {
  int v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// The message of a Kubernetes Status body, or the start of the body.
std::string status_message(long status, const std::string& body) {
  std::string text = "HTTP " + std::to_string(status);
  json::error_code ec;
  json::value v = json::parse(body, ec);
  if (!ec && v.is_object()) {
    if (auto* m = v.get_object().if_contains("message"); m && m->is_string())
      return text + ": " + std::string(m->get_string());
  }
  if (!body.empty()) text += ": " + body.substr(0, 200);
  return text;
}

http::ClientOptions client_options(const ClusterConfig& c) {
  http::ClientOptions o;
  o.user_agent = kUserAgent;
  o.ca_file = c.ca_file;
  o.ca_pem = c.ca_pem;
  o.insecure_skip_verify = c.insecure_skip_verify;
  o.client_cert_file = c.client_cert_file;
  o.client_key_file = c.client_key_file;
  o.client_cert_pem = c.client_cert_pem;
  o.client_key_pem = c.client_key_pem;
  return o;
}

// Egress proxy settings from the environment, as client-go reads them; problems are logged once.
http::EgressProxySettings egress_proxy() {
  auto settings = http::EgressProxySettings::from_environment();
  for (const auto& p : settings.problems()) log::Logger("kube").warn("egress proxy setting ignored", {{"problem", p}});
  return settings;
}
}  // namespace

std::string api_status_message(long status, const std::string& body) { return status_message(status, body); }

bool WatchState::line(std::string_view text) {
  while (!text.empty() && (text.back() == '\r' || text.back() == ' ')) text.remove_suffix(1);
  if (text.empty()) return true;
  json::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) {
    error = "malformed watch event (" + (ec ? ec.message() : std::string("not an object")) + ")";
    return false;
  }
  const json::object& o = v.get_object();
  const json::value* type = o.if_contains("type");
  const json::value* object = o.if_contains("object");
  if (!type || !type->is_string() || !object) {
    error = "watch event without type or object";
    return false;
  }
  std::string_view t = type->get_string();
  if (t == "ERROR") {
    const json::value* code = object->is_object() ? object->get_object().if_contains("code") : nullptr;
    // A code that is not an exact int (410.5, 1e10) is some other error, not a reason to throw from the watch thread.
    json::error_code code_ec;
    if (code && code->is_number() && code->to_number<int>(code_ec) == 410 && !code_ec) {
      gone = true;
    } else {
      const json::value* msg = object->is_object() ? object->get_object().if_contains("message") : nullptr;
      error = "watch error event: " + (msg && msg->is_string() ? std::string(msg->get_string()) : json::serialize(*object));
    }
    return false;
  }
  WatchEvent event{WatchEvent::Type::added, {}};
  if (t == "ADDED") {
    event.type = WatchEvent::Type::added;
  } else if (t == "MODIFIED") {
    event.type = WatchEvent::Type::modified;
  } else if (t == "DELETED") {
    event.type = WatchEvent::Type::deleted;
  } else if (t == "BOOKMARK") {
    event.type = WatchEvent::Type::bookmark;
    const json::value* meta = object->is_object() ? object->get_object().if_contains("metadata") : nullptr;
    const json::value* rv = meta && meta->is_object() ? meta->get_object().if_contains("resourceVersion") : nullptr;
    if (rv && rv->is_string()) event.object.resource_version = std::string(rv->get_string());
    (*on_event)(event);
    return true;
  } else {
    return true;  // a type this client does not know: ignore, as client-go does not rely on more
  }
  auto sa = service_account_from_json(*object);
  if (!sa) {
    error = "watch event whose object is not a service account";
    return false;
  }
  event.object = std::move(*sa);
  (*on_event)(event);
  return true;
}

bool WatchState::data(std::string_view bytes) {
  pending.append(bytes);
  std::size_t start = 0;
  for (;;) {
    auto nl = pending.find('\n', start);
    if (nl == std::string::npos) break;
    if (!line(std::string_view(pending).substr(start, nl - start))) return false;
    start = nl + 1;
  }
  pending.erase(0, start);
  if (pending.size() > kMaxWatchLine) {
    error = "a watch event is larger than 16 MiB";
    return false;
  }
  return true;
}

ListPage parse_service_account_list(std::string_view body) {
  ListPage out;
  ServiceAccountListStream stream([&](ServiceAccount&& sa) { out.items.push_back(std::move(sa)); });
  if (!stream.data(body) || !stream.finish()) {
    out.error = stream.error();
    return out;
  }
  out.resource_version = stream.resource_version();
  out.continue_token = stream.continue_token();
  return out;
}

std::optional<ServerVersion> parse_server_version(std::string_view body) {
  json::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const json::object& o = v.get_object();
  auto field = [&](std::string_view k) -> std::string {
    const json::value* f = o.if_contains(k);
    return f && f->is_string() ? std::string(f->get_string()) : std::string();
  };
  ServerVersion sv;
  sv.git_version = field("gitVersion");
  std::string_view g = sv.git_version;
  if (g.starts_with('v')) {
    g.remove_prefix(1);
    auto dot = g.find('.');
    if (dot != std::string_view::npos) {
      sv.major = leading_int(g.substr(0, dot));
      sv.minor = leading_int(g.substr(dot + 1));
    }
  }
  if (sv.major == 0) {
    sv.major = leading_int(field("major"));
    sv.minor = leading_int(field("minor"));
  }
  if (sv.major == 0) return std::nullopt;
  return sv;
}

ApiClient::ApiClient(ClusterConfig config)
    : config_(std::move(config)), http_(std::make_unique<http::AsioClient>(client_options(config_), egress_proxy())) {}
ApiClient::~ApiClient() = default;

std::string ApiClient::bearer_token() {
  if (!config_.token.empty()) return config_.token;
  if (config_.token_file.empty()) return {};
  std::lock_guard lock(mutex_);
  auto now = std::chrono::steady_clock::now();
  if (token_.empty() || now - token_read_ >= config_.token_reload) {
    std::string t(ascii::trim_end(read_file(config_.token_file).value_or("")));
    if (!t.empty()) {  // keep the last good token while the kubelet swaps the file
      token_ = std::move(t);
      token_read_ = now;
    }
  }
  return token_;
}

ApiClient::Response ApiClient::request(const std::string& method, const std::string& path, const std::string& body,
                                       const std::string& content_type) {
  http::ClientRequest req;
  req.method = method;
  req.url = config_.server + path;
  req.headers.emplace_back("Accept", "application/json");
  if (!body.empty()) req.headers.emplace_back("Content-Type", content_type);
  if (auto token = bearer_token(); !token.empty()) req.headers.emplace_back("Authorization", "Bearer " + token);
  req.body = body;
  req.timeout = std::chrono::milliseconds(10'000);
  req.connect_timeout = std::chrono::milliseconds(3'000);
  auto r = http_->perform(req, kMaxResponseBody);
  Response out;
  if (r.error) {
    out.error = "cannot reach the API server at " + config_.server + ": " + r.error->message;
    return out;
  }
  out.status = r.response.status;
  out.body = std::move(r.response.body);
  return out;
}

std::optional<ServerVersion> ApiClient::version(std::string* error) {
  auto r = get("/version");
  if (!r.error.empty()) {
    if (error) *error = r.error;
    return std::nullopt;
  }
  if (r.status != 200) {
    if (error) *error = "GET /version: " + status_message(r.status, r.body);
    return std::nullopt;
  }
  auto v = parse_server_version(r.body);
  if (!v && error) *error = "GET /version: the answer has no version";
  return v;
}

FetchResult ApiClient::get_service_account(std::string_view ns, std::string_view name) {
  auto r = get("/api/v1/namespaces/" + path_escape(ns) + "/serviceaccounts/" + path_escape(name));
  FetchResult out;
  if (!r.error.empty()) {
    out.error = r.error;
  } else if (r.status == 404) {
    out.not_found = true;
  } else if (r.status != 200) {
    out.error = status_message(r.status, r.body);
  } else {
    json::error_code ec;
    json::value v = json::parse(r.body, ec);
    auto sa = ec ? std::nullopt : service_account_from_json(v);
    if (sa) {
      out.sa = std::make_shared<const ServiceAccount>(std::move(*sa));
    } else {
      out.error = "the API server's answer is not a service account";
    }
  }
  return out;
}

ListResult ApiClient::list_service_accounts(int page_size) {
  std::vector<ServiceAccount> items;
  ListResult out = list_service_accounts(page_size, [&](ServiceAccount&& sa) { items.push_back(std::move(sa)); });
  out.items = std::move(items);
  return out;
}

ListResult ApiClient::list_service_accounts(int page_size, const std::function<void(ServiceAccount&&)>& on_item,
                                           std::string_view resource_version) {
  ListResult out;
  std::string cont;
  for (int page = 0; page < 100'000; ++page) {
    http::ClientRequest req;
    req.url = config_.server + "/api/v1/serviceaccounts?limit=" + std::to_string(page_size);
    // The version goes with the first page only: the API server refuses it next to a continue token.
    if (!cont.empty()) {
      req.url += "&continue=" + path_escape(cont);
    } else if (!resource_version.empty()) {
      req.url += "&resourceVersion=" + path_escape(resource_version);
    }
    req.headers.emplace_back("Accept", "application/json");
    if (auto token = bearer_token(); !token.empty()) req.headers.emplace_back("Authorization", "Bearer " + token);
    req.connect_timeout = std::chrono::milliseconds(3'000);
    req.timeout = kListPageTimeout;
    // Parsed as it arrives: a server that ignores `limit` answers with the whole cluster's accounts at once.
    ServiceAccountListStream stream(on_item);
    auto r = http_->stream(req, [&](std::string_view bytes) { return stream.data(bytes); });
    if (r.end == http::StreamEnd::handler_stopped) {
      out.error = "list service accounts: " + stream.error();
      return out;
    }
    if (r.error) {
      out.error = r.response.status ? "list service accounts: " + r.error->message
                                    : "cannot reach the API server at " + config_.server + ": " + r.error->message;
      return out;
    }
    if (r.response.status != 200) {
      out.error = "list service accounts: " + status_message(r.response.status, r.response.body);
      return out;
    }
    if (!stream.finish()) {
      out.error = "list service accounts: " + stream.error();
      return out;
    }
    if (!stream.resource_version().empty()) out.resource_version = stream.resource_version();
    cont = stream.continue_token();
    if (cont.empty()) return out;
  }
  out.error = "list service accounts: too many pages";
  return out;
}

WatchEnd ApiClient::watch_service_accounts(const std::string& resource_version, int timeout_seconds,
                                           const std::function<void(const WatchEvent&)>& on_event,
                                           const std::atomic<bool>& stop, std::string* error) {
  http::ClientRequest req;
  req.url = config_.server + "/api/v1/serviceaccounts?watch=1&allowWatchBookmarks=true&timeoutSeconds=" +
            std::to_string(timeout_seconds) + "&resourceVersion=" + path_escape(resource_version);
  req.headers.emplace_back("Accept", "application/json");
  if (auto token = bearer_token(); !token.empty()) req.headers.emplace_back("Authorization", "Bearer " + token);
  req.connect_timeout = std::chrono::milliseconds(3'000);
  // The server closes the stream after timeoutSeconds; the margin covers a server that silently went away.
  req.timeout = std::chrono::seconds(timeout_seconds + 30);
  WatchState st;
  st.on_event = &on_event;
  auto r = http_->stream(req, [&](std::string_view bytes) { return st.data(bytes); }, &stop);

  auto fail = [&](std::string why) {
    if (error) *error = std::move(why);
    return WatchEnd::failed;
  };
  if (r.end == http::StreamEnd::stop_requested) return WatchEnd::stopped;
  if (st.gone || r.response.status == 410) {
    if (error) *error = "resourceVersion " + resource_version + " is too old (410 Gone)";
    return WatchEnd::gone;
  }
  if (!st.error.empty()) return fail(st.error);
  if (r.error) return fail("watch: " + r.error->message);
  if (r.response.status != 200) return fail("watch: " + status_message(r.response.status, r.response.body));
  return WatchEnd::closed;
}

}  // namespace azwi::kube
