#include "cli/propagation.hpp"

#include <boost/json/parse.hpp>

#include "cli/aadsts.hpp"
#include "cli/json_access.hpp"
#include "common/log.hpp"
#include "identity/authority.hpp"

namespace azwi::cli {
namespace json = boost::json;

bool is_propagation_code(int code) { return code == 70021 || code == 700211 || code == 700212 || code == 700213; }

identity::RetryPolicy propagation_policy() {
  return identity::RetryPolicy{20, std::chrono::milliseconds(1000), 2.0, std::chrono::milliseconds(16'000),
                               std::chrono::milliseconds(120'000)};
}

PropagationResult await_federation(identity::HttpTransport& transport, Clock& clock, const identity::RetryPolicy& policy,
                                   const ExchangeTarget& target, const std::string& assertion) {
  log::Logger log("propagation");
  PropagationResult out;
  auto start = clock.now();
  for (int attempt = 1;; ++attempt) {
    out.attempts = attempt;
    http::ClientRequest req;
    req.method = "POST";
    req.url = identity::token_endpoint(target.authority_host, target.tenant);
    req.headers = {{"Content-Type", "application/x-www-form-urlencoded"}, {"Accept", "application/json"}};
    req.body = "client_id=" + http::form_encode(target.client_id) + "&scope=" + http::form_encode(target.scope) +
               "&grant_type=client_credentials"
               "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
               "&client_assertion=" + http::form_encode(assertion);
    auto r = transport.perform(req);
    out.waited = std::chrono::duration_cast<std::chrono::milliseconds>(clock.now() - start);
    if (r.error) {
      out.error = "cannot reach Entra ID at " + req.url + ": " + r.error->message;
      return out;
    }
    json::error_code ec;
    auto v = json::parse(r.response.body, ec);
    const json::object* o = !ec && v.is_object() ? &v.get_object() : nullptr;
    if (r.response.status == 200 && o && !string_at(*o, "access_token").empty()) {
      out.accepted = true;
      out.error.clear();
      out.error_code = 0;
      return out;
    }
    out.error = o ? string_at(*o, "error_description") : "";
    if (out.error.empty()) out.error = "Entra ID answered HTTP " + std::to_string(r.response.status);
    out.error = out.error.substr(0, out.error.find_first_of("\r\n"));
    out.error_code = find_aadsts_code(out.error).value_or(0);
    if (!is_propagation_code(out.error_code)) return out;
    auto delay = identity::next_retry_delay(policy, attempt, std::nullopt, out.waited);
    if (!delay) return out;
    log.info("Entra ID does not use the new federated credential yet, retrying",
             {{"code", out.error_code}, {"attempt", attempt}, {"retryInMs", static_cast<std::int64_t>(delay->count())}});
    clock.sleep_for(*delay);
  }
}

}  // namespace azwi::cli
