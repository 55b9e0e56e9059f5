#pragma once
// Typed access to the objects the webhook writes: Secrets and MutatingWebhookConfigurations. Each call is one
// request, and its result says what happened in the API's own terms (NotFound, Conflict, Forbidden, anything else)
// so that the caller decides: re-read and try again after a Conflict, report a Forbidden as a missing RBAC grant.
// An update carries the resourceVersion that was read, so it never silently overwrites another writer's change.
#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace azwi::kube {

class ApiClient;

enum class Outcome {
  ok,
  not_found,  // 404
  conflict,   // 409: AlreadyExists on create, a moved-on resourceVersion on update
  forbidden,  // 403: the caller's RBAC does not grant the call
  failed,     // no answer, another status, or an answer that is not the object
};
std::string_view outcome_name(Outcome outcome);

template <class T>
struct ApiResult {
  Outcome outcome = Outcome::failed;
  T object{};         // the object as the server returned it, when ok
  std::string error;  // otherwise: "HTTP 409: <the Status message>", or why no answer arrived
  bool ok() const { return outcome == Outcome::ok; }
};

// A Secret. The whole object read is kept, so an update keeps the fields this type does not name.
class Secret {
 public:
  Secret() = default;
  explicit Secret(boost::json::object object) : object_(std::move(object)) {}
  // A new Opaque Secret with no data.
  static Secret make(std::string_view ns, std::string_view name);

  std::string ns() const;
  std::string name() const;
  std::string resource_version() const;
  // The decoded value of data[key]; nullopt when absent or not base64.
  std::optional<std::string> data(std::string_view key) const;
  // Replaces all data with these (key, bytes) entries.
  void set_data(const std::vector<std::pair<std::string, std::string>>& entries);
  void set_label(std::string_view key, std::string_view value);
  const boost::json::object& json() const { return object_; }

 private:
  boost::json::object object_;
};

// A MutatingWebhookConfiguration, kept whole for the same reason.
class MutatingWebhookConfiguration {
 public:
  MutatingWebhookConfiguration() = default;
  explicit MutatingWebhookConfiguration(boost::json::object object) : object_(std::move(object)) {}

  std::string name() const;
  std::string resource_version() const;
  std::size_t webhook_count() const;
  // Sets every webhook's clientConfig.caBundle to the base64 of `pem`; returns how many webhooks changed.
  int set_ca_bundle(std::string_view pem);
  const boost::json::object& json() const { return object_; }

 private:
  boost::json::object object_;
};

class ObjectClient {
 public:
  explicit ObjectClient(ApiClient& api) : api_(api) {}

  ApiResult<Secret> get_secret(std::string_view ns, std::string_view name);
  // POST to the Secret's namespace; Conflict when it exists already.
  ApiResult<Secret> create_secret(const Secret& secret);
  // PUT with the Secret's resourceVersion; Conflict when the stored one has moved on.
  ApiResult<Secret> update_secret(const Secret& secret);
  ApiResult<MutatingWebhookConfiguration> get_mutating_webhook_configuration(std::string_view name);
  ApiResult<MutatingWebhookConfiguration> update_mutating_webhook_configuration(
      const MutatingWebhookConfiguration& config);

 private:
  ApiClient& api_;
};

}  // namespace azwi::kube
