#include "cli/arm.hpp"

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "cli/json_access.hpp"
#include "common/env.hpp"
#include "common/flags.hpp"
#include "common/log.hpp"
#include "identity/authority.hpp"

namespace azwi::cli {
namespace json = boost::json;

namespace {

constexpr const char* kUserAgent = "azwi/" AZWI_VERSION;

http::ClientOptions client_options() { return http::client_options_from_env(kUserAgent); }

std::unique_ptr<identity::HttpTransport> make_transport() {
  return std::make_unique<identity::AsioTransport>(client_options(), http::EgressProxySettings::from_environment());
}

std::string with_slash(std::string s) {
  if (!s.ends_with('/')) s += '/';
  return s;
}

// The access token of a 200 answer of Entra or IMDS, or the reason.
std::variant<std::string, std::string> token_from_answer(const http::ClientResult& r, const std::string& who) {
  if (r.error) return std::variant<std::string, std::string>(std::in_place_index<1>, "cannot reach " + who + ": " + r.error->message);
  json::error_code ec;
  auto v = json::parse(r.response.body, ec);
  const json::object* o = !ec && v.is_object() ? &v.get_object() : nullptr;
  if (r.response.status == 200 && o && !string_at(*o, "access_token").empty())
    return std::variant<std::string, std::string>(std::in_place_index<0>, string_at(*o, "access_token"));
  std::string why = o ? string_at(*o, "error_description") : "";
  if (why.empty()) why = r.response.body.substr(0, 300);
  return std::variant<std::string, std::string>(std::in_place_index<1>,
                                                who + " answered HTTP " + std::to_string(r.response.status) + ": " + why);
}

class WorkloadIdentityCredential final : public ArmCredential {
 public:
  WorkloadIdentityCredential(std::string tenant, std::string client, std::string token_file, std::string authority,
                             std::string scope)
      : transport_(make_transport()),
        exchanger_(clock_, *transport_, identity::ExchangeConfig{std::move(authority), std::move(token_file), {}}),
        key_{std::move(tenant), std::move(client), std::move(scope)} {}
  std::variant<std::string, std::string> token() override {
    auto r = exchanger_.exchange(key_);
    if (auto* t = std::get_if<identity::AccessToken>(&r))
      return std::variant<std::string, std::string>(std::in_place_index<0>, t->value);
    return std::variant<std::string, std::string>(std::in_place_index<1>, std::get<identity::TokenError>(r).description);
  }
  std::string describe() const override { return "workload identity (client ID " + key_.client_id + ")"; }

 private:
  SystemClock clock_;
  std::unique_ptr<identity::HttpTransport> transport_;
  identity::EntraExchanger exchanger_;
  identity::TokenKey key_;
};

class ClientSecretCredential final : public ArmCredential {
 public:
  ClientSecretCredential(std::string tenant, std::string client, std::string secret, std::string authority,
                         std::string scope)
      : tenant_(std::move(tenant)), client_(std::move(client)), secret_(std::move(secret)),
        authority_(std::move(authority)), scope_(std::move(scope)), transport_(make_transport()) {}
  std::variant<std::string, std::string> token() override {
    http::ClientRequest req;
    req.method = "POST";
    req.url = identity::token_endpoint(authority_, tenant_);
    req.headers = {{"Content-Type", "application/x-www-form-urlencoded"}, {"Accept", "application/json"}};
    req.body = "grant_type=client_credentials&client_id=" + http::form_encode(client_) +
               "&client_secret=" + http::form_encode(secret_) + "&scope=" + http::form_encode(scope_);
    return token_from_answer(transport_->perform(req), "Entra ID");
  }
  std::string describe() const override { return "client secret (client ID " + client_ + ")"; }

 private:
  std::string tenant_, client_, secret_, authority_, scope_;
  std::unique_ptr<identity::HttpTransport> transport_;
};

class ImdsCredential final : public ArmCredential {
 public:
  ImdsCredential(std::string endpoint, std::string client, std::string resource)
      : endpoint_(with_slash(std::move(endpoint))), client_(std::move(client)), resource_(std::move(resource)),
        transport_(make_transport()) {}
  std::variant<std::string, std::string> token() override {
    http::ClientRequest req;
    req.url = endpoint_ + "metadata/identity/oauth2/token?api-version=2018-02-01&resource=" +
              http::form_encode(resource_) + (client_.empty() ? "" : "&client_id=" + http::form_encode(client_));
    req.headers = {{"Metadata", "true"}};
    return token_from_answer(transport_->perform(req), "IMDS at " + endpoint_);
  }
  std::string describe() const override {
    return "managed identity through IMDS" + (client_.empty() ? std::string() : " (client ID " + client_ + ")");
  }

 private:
  std::string endpoint_, client_, resource_;
  std::unique_ptr<identity::HttpTransport> transport_;
};

FederatedCredential credential_from_json(const json::object& o) {
  FederatedCredential fc;
  fc.name = string_at(o, "name");
  if (auto* p = object_at(o, "properties")) {
    fc.issuer = string_at(*p, "issuer");
    fc.subject = string_at(*p, "subject");
    if (auto* a = array_at(*p, "audiences"))
      for (const auto& v : *a)
        if (v.is_string()) fc.audiences.emplace_back(v.get_string());
  }
  return fc;
}

}  // namespace

void ArmFlags::add_to(FlagSet& flags, bool for_doctor) {
  std::string why = for_doctor ? " (with --subscription-id and --resource-group: compare the pod's token with its federated credentials)" : "";
  flags.add_string("subscription-id", &subscription_id, "the identity's Azure subscription ID");
  flags.add_string("resource-group", &resource_group, "the identity's resource group");
  flags.add_string("identity-name", &identity_name, "name of the user-assigned managed identity" + why);
  flags.add_string("arm-endpoint", &arm_endpoint, "Azure Resource Manager endpoint");
  flags.add_string("arm-resource", &arm_resource, "resource the ARM token is requested for");
  flags.add_env("AZURE_TENANT_ID, AZURE_CLIENT_ID", "who calls ARM (with one of the three below)");
  flags.add_env("AZURE_FEDERATED_TOKEN_FILE", "workload identity: a projected service account token");
  flags.add_env("AZURE_CLIENT_SECRET", "a client secret, when there is no token file");
  flags.add_env("AZURE_AUTHORITY_HOST", "Entra ID authority (default https://login.microsoftonline.com/)");
  flags.add_env("AZURE_POD_IDENTITY_AUTHORITY_HOST", "IMDS endpoint when neither is set (default http://169.254.169.254/)");
}

std::string ArmFlags::identity_path() const {
  return "/subscriptions/" + http::form_encode(subscription_id) + "/resourceGroups/" + http::form_encode(resource_group) +
         "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + http::form_encode(identity_name);
}

std::string ArmFlags::endpoint() const { return with_slash(arm_endpoint); }

std::string ArmFlags::missing() const {
  std::vector<std::string> out;
  if (subscription_id.empty()) out.push_back("--subscription-id");
  if (resource_group.empty()) out.push_back("--resource-group");
  if (identity_name.empty()) out.push_back("--identity-name");
  std::string text;
  for (const auto& s : out) text += (text.empty() ? "" : ", ") + s;
  return text;
}

std::unique_ptr<ArmCredential> arm_credential_from_env(const ArmFlags& flags) {
  std::string tenant = env_or("AZURE_TENANT_ID", ""), client = env_or("AZURE_CLIENT_ID", "");
  std::string authority = env_or("AZURE_AUTHORITY_HOST", std::string(identity::kDefaultAuthorityHost));
  std::string scope = identity::scope_for_resource(flags.arm_resource);
  if (auto file = env("AZURE_FEDERATED_TOKEN_FILE"); file && !file->empty() && !tenant.empty() && !client.empty())
    return std::make_unique<WorkloadIdentityCredential>(tenant, client, *file, authority, scope);
  if (auto secret = env("AZURE_CLIENT_SECRET"); secret && !secret->empty() && !tenant.empty() && !client.empty())
    return std::make_unique<ClientSecretCredential>(tenant, client, *secret, authority, scope);
  return std::make_unique<ImdsCredential>(env_or("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://169.254.169.254/"), client,
                                          flags.arm_resource);
}

std::string arm_error_message(long status, const std::string& body) {
  json::error_code ec;
  auto v = json::parse(body, ec);
  if (!ec && v.is_object())
    if (auto* e = object_at(v.get_object(), "error"))
      return "HTTP " + std::to_string(status) + " " + string_at(*e, "code") + ": " + string_at(*e, "message");
  return "HTTP " + std::to_string(status) + (body.empty() ? "" : ": " + body.substr(0, 300));
}

ArmClient::ArmClient(std::string endpoint, std::unique_ptr<ArmCredential> credential)
    : endpoint_(with_slash(std::move(endpoint))), credential_(std::move(credential)), own_transport_(make_transport()),
      transport_(*own_transport_), own_clock_(std::make_unique<SystemClock>()), clock_(*own_clock_),
      // A just-created identity can be unknown to ARM for some seconds: about 30 s of backoff (1, 2, 4, 8, 8, 8 s)
      // covers that without making a mistyped name wait long.
      retry_{7, std::chrono::milliseconds(1000), 2.0, std::chrono::milliseconds(8'000), std::chrono::milliseconds(40'000)} {}

ArmClient::ArmClient(std::string endpoint, std::unique_ptr<ArmCredential> credential,
                     identity::HttpTransport& transport, Clock& clock, identity::RetryPolicy retry)
    : endpoint_(with_slash(std::move(endpoint))), credential_(std::move(credential)), transport_(transport),
      clock_(clock), retry_(retry) {}

ArmClient::~ArmClient() = default;

ArmClient::Answer ArmClient::call(const std::string& method, const std::string& path, const std::string& body,
                                  bool retry_not_found) {
  log::Logger log("arm");
  auto token = credential_->token();
  if (token.index() == 1) return Answer{0, "", "cannot get a token for ARM as " + credential_->describe() + ": " + std::get<1>(token)};
  auto start = clock_.now();
  for (int attempt = 1;; ++attempt) {
    last_attempts_ = attempt;
    http::ClientRequest req;
    req.method = method;
    req.url = endpoint_ + path.substr(path.starts_with('/') ? 1 : 0) + "?api-version=" + std::string(kArmApiVersion);
    req.headers = {{"Authorization", "Bearer " + std::get<0>(token)}, {"Accept", "application/json"}};
    if (!body.empty()) req.headers.emplace_back("Content-Type", "application/json");
    req.body = body;
    req.timeout = std::chrono::milliseconds(30'000);
    auto r = transport_.perform(req);
    Answer a;
    bool transient = false;
    if (r.error) {
      a.error = "cannot reach ARM at " + endpoint_ + ": " + r.error->message;
      transient = r.error->kind != http::ClientError::Kind::tls;
    } else {
      a.status = r.response.status;
      a.body = r.response.body;
      long s = a.status;
      transient = s == 429 || s >= 500 || s == 409 || (retry_not_found && s == 404);
    }
    if (!transient) return a;
    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now() - start);
    std::optional<std::chrono::milliseconds> retry_after;
    if (auto h = r.response.header("retry-after")) retry_after = std::chrono::seconds(std::atoi(h->c_str()));
    auto delay = identity::next_retry_delay(retry_, attempt, retry_after, elapsed);
    if (!delay) return a;
    log.warn("ARM has not caught up yet, retrying", {{"method", method}, {"status", a.status}, {"attempt", attempt},
                                                      {"retryInMs", static_cast<std::int64_t>(delay->count())}});
    clock_.sleep_for(*delay);
  }
}

ArmClient::Listed ArmClient::list_federated_credentials(const std::string& identity_path) {
  Listed out;
  auto a = call("GET", identity_path + "/federatedIdentityCredentials", "", false);
  if (!a.error.empty()) {
    out.error = a.error;
    return out;
  }
  if (a.status != 200) {
    out.error = "GET " + identity_path + "/federatedIdentityCredentials: " + arm_error_message(a.status, a.body);
    return out;
  }
  json::error_code ec;
  auto v = json::parse(a.body, ec);
  if (ec || !v.is_object()) {
    out.error = "ARM's answer is not a JSON object";
    return out;
  }
  if (auto* items = array_at(v.get_object(), "value"))
    for (const auto& item : *items)
      if (item.is_object()) out.credentials.push_back(credential_from_json(item.get_object()));
  return out;
}

std::string ArmClient::get_identity(const std::string& identity_path, ArmIdentity* out) {
  auto a = call("GET", identity_path, "", true);
  if (!a.error.empty()) return a.error;
  if (a.status != 200) return "GET " + identity_path + ": " + arm_error_message(a.status, a.body);
  json::error_code ec;
  auto v = json::parse(a.body, ec);
  if (ec || !v.is_object()) return "ARM's answer is not a JSON object";
  const auto& o = v.get_object();
  out->name = string_at(o, "name");
  if (auto* p = object_at(o, "properties")) {
    out->client_id = string_at(*p, "clientId");
    out->tenant_id = string_at(*p, "tenantId");
    out->principal_id = string_at(*p, "principalId");
  }
  return {};
}

std::string ArmClient::put_federated_credential(const std::string& identity_path, const FederatedCredential& fc) {
  json::array audiences;
  for (const auto& a : fc.audiences) audiences.push_back(json::string(a));
  json::object body{{"properties", json::object{{"issuer", fc.issuer}, {"subject", fc.subject},
                                                {"audiences", std::move(audiences)}}}};
  std::string path = identity_path + "/federatedIdentityCredentials/" + http::form_encode(fc.name);
  // 404: the identity was created a moment ago and this ARM region does not know it yet.
  auto a = call("PUT", path, json::serialize(body), true);
  if (!a.error.empty()) return a.error;
  if (a.status != 200 && a.status != 201) return "PUT " + path + ": " + arm_error_message(a.status, a.body);
  return {};
}

std::string ArmClient::delete_federated_credential(const std::string& identity_path, const std::string& name) {
  std::string path = identity_path + "/federatedIdentityCredentials/" + http::form_encode(name);
  auto a = call("DELETE", path, "", false);
  if (!a.error.empty()) return a.error;
  if (a.status != 200 && a.status != 204 && a.status != 404) return "DELETE " + path + ": " + arm_error_message(a.status, a.body);
  return {};
}

}  // namespace azwi::cli
