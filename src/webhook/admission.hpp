#pragma once
// AdmissionReview handling: parse a review, decide, and render the answer in the review's own apiVersion.
// Pure apart from the cluster version it is given; the HTTP server and the service-account lookup live elsewhere.
#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "kube/service_account.hpp"
#include "webhook/config.hpp"
#include "webhook/mutation.hpp"

namespace azwi::webhook {

struct Review {
  explicit Review(boost::json::storage_ptr sp = {}) : pod(std::move(sp)) {}
  std::string api_version;  // admission.k8s.io/v1 or admission.k8s.io/v1beta1: the answer uses the same
  std::string uid;
  std::string ns;         // request.namespace, else the pod's metadata.namespace
  std::string operation;  // CREATE, UPDATE, ...
  std::string kind;       // request.kind.kind, "" when absent
  std::string pod_name;   // metadata.name, else metadata.generateName
  std::string service_account;
  bool dry_run = false;
  // request.object, without the parts the webhook never reads (see webhook/review_json.hpp), and how many members
  // it had as sent (0: absent, not an object, or empty).
  boost::json::object pod;
  std::size_t pod_members = 0;
};

// What happened, for the answer, the log line and the metrics.
struct Answer {
  unsigned http_status = 200;
  std::string content_type = "application/json";
  std::string body;
  // result: "mutated" (a patch), "unchanged" (nothing to add), "skipped" (not for us), "denied" (the pod or its
  // annotations are at fault, 400), "error" (the webhook could not decide, 500), "malformed" (not a review).
  std::string result;
  std::string message;  // denial or refusal reason; for a mutation, why something asked for was not done
  std::size_t patch_ops = 0;
  std::vector<std::string> containers;
  std::string proxy;
  std::string_view proxy_mode;  // the mode applied (webhook/proxy_mode.hpp); "" without the proxy
  int token_expiration = 0;
};

// A review to decide, or (when the body is not a usable review) the refusal already rendered.
// The pod is kept in `sp` (a per-request arena on the hot path). `whole`: keep every part of the review (the
// reference the tests compare the pruned form with); the answer is the same either way.
std::variant<Review, Answer> parse_review(std::string_view body, boost::json::storage_ptr sp = {}, bool whole = false);

// The answer for a review that needs no service account: not a pod creation, not opted in, or malformed.
// nullopt: look the service account up and call decide.
std::optional<Answer> precheck(const Review& review);

// The answer once the service account lookup is done. Mutates review.pod in place (its last use).
Answer decide(Review& review, const kube::FetchResult& lookup, const Config& config, ClusterVersion version);

// The review refused with `code` (400: the pod is at fault; 500: the webhook could not decide) and the reason.
Answer denied(const Review& review, unsigned code, std::string message);

// Rendering, exposed for tests.
std::string render_allowed(const Review& review, const boost::json::array& patch);
std::string render_allowed_text(const Review& review, std::string_view patch_json);  // empty: no patch
std::string render_denied(const Review& review, unsigned code, std::string_view message);
std::string base64_encode(std::string_view data);

}  // namespace azwi::webhook
