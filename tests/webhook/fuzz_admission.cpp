// libFuzzer target: any bytes as an AdmissionReview body. The parser and the mutation must never crash, an
// allowed mutation must be idempotent (its own output needs no patch), and the admission path's patch text must say
// what the pure function's patch says, and leaving out the parts of the review the webhook never reads must not change
// the answer — properties checked on every input.
#include <boost/json.hpp>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "support/json_patch.hpp"
#include "webhook/admission.hpp"
#include "webhook/mutation.hpp"

using namespace azwi;

namespace {
// Odd-sized inputs run with a private authority and the proxy CA ConfigMap set.
const webhook::Config& config(bool odd) {
  static const webhook::Config plain = [] {
    webhook::Config x;
    x.tenant_id = "tenant";
    x.authority_host = "https://login.microsoftonline.com/";
    x.proxy_image = "proxy:1";
    x.proxy_init_image = "proxy-init:1";
    return x;
  }();
  static const webhook::Config private_cloud = [] {
    webhook::Config x = plain;
    x.authority_host = "https://azwi-emulator.test:8443/";
    x.proxy_ca_configmap = "emulator-ca";
    x.proxy_ca_key = "ca.pem";
    return x;
  }();
  return odd ? private_cloud : plain;
}

kube::ServiceAccount account(const webhook::Review& review, bool odd) {
  kube::ServiceAccount sa;
  sa.ns = review.ns;
  sa.name = review.service_account;
  sa.annotations.emplace("azure.workload.identity/client-id", "client");
  if (odd) sa.annotations.emplace("azure.workload.identity/service-account-token-expiration", "7200");
  return sa;
}
}  // namespace

// The answer's body when the review is refused, skipped or decided (with the given account).
std::string answer_of(std::string_view body, bool whole, webhook::ClusterVersion version, bool odd) {
  auto parsed = webhook::parse_review(body, {}, whole);
  if (auto* refusal = std::get_if<webhook::Answer>(&parsed)) return refusal->body;
  auto& review = std::get<webhook::Review>(parsed);
  if (auto early = webhook::precheck(review)) return early->body;
  kube::FetchResult hit;
  hit.sa = std::make_shared<const kube::ServiceAccount>(account(review, odd));
  return webhook::decide(review, hit, config(odd), version).body;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  bool odd = size % 2 == 1;
  if (answer_of(body, false, {1, odd ? 32 : 31}, odd) != answer_of(body, true, {1, odd ? 32 : 31}, odd))
    std::abort();  // leaving parts out changed the answer
  // The pure function needs the whole pod.
  auto parsed = webhook::parse_review(body, {}, /*whole=*/true);
  auto* review = std::get_if<webhook::Review>(&parsed);
  if (!review) return 0;
  if (webhook::precheck(*review)) return 0;
  webhook::ClusterVersion version{1, odd ? 32 : 31};
  kube::ServiceAccount sa = account(*review, odd);

  webhook::Mutation first = webhook::mutate_pod(review->pod, sa, config(odd), version);
  if (first.allowed) {
    boost::json::object result = test::apply_json_patch(review->pod, first.patch);
    webhook::Mutation again = webhook::mutate_pod(result, sa, config(odd), version);
    if (!again.allowed || !again.patch.empty()) std::abort();  // not idempotent
  }
  kube::FetchResult hit;
  hit.sa = std::make_shared<const kube::ServiceAccount>(sa);
  webhook::Answer answer = webhook::decide(*review, hit, config(odd), version);
  if (answer.body.empty()) std::abort();
  boost::json::error_code ec;
  boost::json::parse(answer.body, ec);
  if (ec) std::abort();  // every answer must be valid JSON
  return 0;
}
