#include "identity/entra_exchanger.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "common/files.hpp"
#include "common/text.hpp"
#include "identity/authority.hpp"

namespace azwi::identity {
using namespace std::chrono_literals;
namespace json = boost::json;

TokenFile read_token_file(const std::string& path) {
  if (path.empty()) return {{}, "AZURE_FEDERATED_TOKEN_FILE is not set"};
  auto text = read_file(path);
  if (!text) return {{}, "cannot read the federated token file " + path + ": " + std::strerror(errno)};
  std::string token(ascii::trim_end(*text));
  if (token.empty()) return {{}, "the federated token file " + path + " is empty"};
  return {std::move(token), {}};
}

namespace {
// A lifetime in seconds, nullopt when absent, not a number, or beyond a year: Entra's are hours, and a time point
// that far on (200,000,000,099 s, found by fuzzing) overflows the clock's nanoseconds.
std::optional<std::chrono::seconds> seconds_field(const json::object& o, std::string_view name) {
  constexpr long long kLongest = 366LL * 24 * 3600;
  auto it = o.find(name);
  if (it == o.end()) return std::nullopt;
  const json::value& v = it->value();
  std::optional<long long> n;
  if (v.is_int64()) n = v.get_int64();
  if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(kLongest)) n = static_cast<long long>(v.get_uint64());
  if (v.is_string()) {  // the v1 endpoint writes numbers as strings
    long long parsed = 0;
    auto s = v.get_string();
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), parsed);
    if (ec == std::errc() && p == s.data() + s.size()) n = parsed;
  }
  if (!n || *n < -kLongest || *n > kLongest) return std::nullopt;
  return std::chrono::seconds(*n);
}

std::string string_field(const json::object& o, std::string_view name) {
  auto it = o.find(name);
  if (it == o.end() || !it->value().is_string()) return "";
  return std::string(it->value().get_string());
}

std::optional<std::chrono::milliseconds> parse_retry_after(const http::ClientResponse& r) {
  auto h = r.header("retry-after");
  if (!h) return std::nullopt;
  long long secs = 0;
  auto [p, ec] = std::from_chars(h->data(), h->data() + h->size(), secs);
  if (ec != std::errc() || p != h->data() + h->size() || secs < 0) return std::nullopt;
  return std::chrono::milliseconds(std::min<long long>(secs, 3600) * 1000);
}
}  // namespace

EntraExchanger::EntraExchanger(Clock& clock, HttpTransport& transport, ExchangeConfig config)
    : clock_(clock), transport_(transport), config_(std::move(config)) {}

FetchResult EntraExchanger::exchange(const TokenKey& key) {
  auto start = clock_.now();
  for (int attempts = 1;; ++attempts) {
    // The kubelet rotates the file: read it for every attempt, never keep it.
    auto file = read_token_file(config_.token_file);
    if (!file.ok()) {
      log_.error("cannot read the service account token", {{"clientID", key.client_id}, {"reason", file.error}});
      return TokenError{TokenError::Kind::local, "invalid_request", file.error, std::nullopt};
    }
    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now() - start);
    auto budget = config_.retry.deadline - elapsed;
    Attempt a = attempt(key, file.token, budget);
    if (!a.retryable) return std::move(a.result);
    elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now() - start);
    auto delay = next_retry_delay(config_.retry, attempts, a.retry_after, elapsed);
    const auto& err = std::get<TokenError>(a.result);
    if (!delay) {
      log_.error("giving up on the token request", {{"clientID", key.client_id},
                                                    {"scope", key.scope},
                                                    {"attempts", attempts},
                                                    {"reason", err.description}});
      return std::move(a.result);
    }
    log_.warn("token request failed, retrying", {{"clientID", key.client_id},
                                                 {"attempt", attempts},
                                                 {"status", a.status},
                                                 {"reason", err.description},
                                                 {"retryInMs", static_cast<std::int64_t>(delay->count())}});
    clock_.sleep_for(*delay);
  }
}

EntraExchanger::Attempt EntraExchanger::attempt(const TokenKey& key, const std::string& assertion,
                                                std::chrono::milliseconds budget) {
  http::ClientRequest req;
  req.method = "POST";
  req.url = token_endpoint(config_.authority_host, key.tenant);
  req.headers = {{"Content-Type", "application/x-www-form-urlencoded"}, {"Accept", "application/json"}};
  req.body = "client_id=" + http::form_encode(key.client_id) + "&scope=" + http::form_encode(key.scope) +
             "&grant_type=client_credentials"
             "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
             "&client_assertion=" +
             http::form_encode(assertion);
  req.timeout = std::max(std::min(config_.attempt_timeout, budget), std::chrono::milliseconds(100));
  req.connect_timeout = std::min(config_.connect_timeout, req.timeout);

  auto issued_at = clock_.now();
  http::ClientResult res = transport_.perform(req);
  Attempt a{TokenError{}, false, std::nullopt, 0};
  if (res.error) {
    bool timeout = res.error->kind == http::ClientError::Kind::timeout;
    bool tls = res.error->kind == http::ClientError::Kind::tls;
    std::string description = (timeout ? config_.endpoint_name + " did not answer in time: "
                                       : "cannot reach " + config_.endpoint_name + " at ") +
                              req.url + ": " + res.error->message;
    if (tls) description += " (" + config_.trust_hint + ")";
    a.result = TokenError{timeout ? TokenError::Kind::timeout : TokenError::Kind::unavailable,
                          timeout ? "timeout" : "service_unavailable", description, std::nullopt};
    a.retryable = !tls;
    return a;
  }
  const auto& r = res.response;
  a.status = r.status;
  boost::system::error_code ec;
  json::value body = json::parse(r.body, ec);
  const json::object* obj = (!ec && body.is_object()) ? &body.get_object() : nullptr;

  if (r.status == 200) {
    std::string token = obj ? string_field(*obj, "access_token") : "";
    auto expires_in = obj ? seconds_field(*obj, "expires_in") : std::nullopt;
    if (token.empty() || !expires_in || *expires_in <= 0s) {
      a.result = TokenError{TokenError::Kind::unavailable, "invalid_response",
                            config_.endpoint_name + " answered 200 without an access token and an expires_in of 1 s to a year",
                            std::nullopt};
      return a;
    }
    a.result = make_access_token(std::move(token), issued_at, *expires_in, seconds_field(*obj, "ext_expires_in"),
                                 seconds_field(*obj, "refresh_in"));
    return a;
  }

  std::string error = obj ? string_field(*obj, "error") : "";
  std::string description = obj ? string_field(*obj, "error_description") : "";
  if (description.empty()) {
    std::string snippet = r.body.substr(0, 200);
    description = config_.endpoint_name + " answered HTTP " + std::to_string(r.status) + (snippet.empty() ? "" : ": " + snippet);
  }
  a.retry_after = parse_retry_after(r);
  std::optional<std::chrono::seconds> retry_after_s;
  if (a.retry_after) retry_after_s = std::chrono::duration_cast<std::chrono::seconds>(*a.retry_after);
  if (r.status == 429) {
    a.result = TokenError{TokenError::Kind::throttled, error.empty() ? "too_many_requests" : error, description,
                          retry_after_s};
    a.retryable = true;
  } else if (r.status >= 500 || r.status == 408) {
    a.result = TokenError{TokenError::Kind::unavailable, error.empty() ? "service_unavailable" : error, description,
                          retry_after_s};
    a.retryable = true;
  } else {
    a.result = TokenError{TokenError::Kind::rejected, error.empty() ? "invalid_request" : error, description,
                          std::nullopt};
  }
  return a;
}

}  // namespace azwi::identity
