// Parsing an AdmissionReview: what the webhook keeps of the pod, and what it refuses.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <variant>

#include "webhook/admission.hpp"

namespace json = boost::json;

TEST(ReviewParsing, LeavesOutWhatTheWebhookNeverReads) {
  std::string body = R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u",
    "kind":{"kind":"Pod"},"operation":"CREATE","namespace":"ns","dryRun":true,"userInfo":{"username":"x"},
    "object":{"kind":"Pod","metadata":{"name":"p","labels":{"a":"b"},"managedFields":[{"manager":"m"}],
      "ownerReferences":[{"kind":"ReplicaSet"}]},
      "spec":{"serviceAccountName":"sa","nodeSelector":{"k":"v"},"volumes":[{"name":"v","projected":{"sources":[]}}],
        "containers":[{"name":"c","image":"i","resources":{"limits":{"cpu":"1"}},"env":[{"name":"E","value":"1"}],
          "volumeMounts":[{"name":"v","mountPath":"/v"}]}, 7, [1]],
        "initContainers":{"not":"a list"}},
      "status":{"phase":"Pending"}}}})";
  auto parsed = azwi::webhook::parse_review(body);
  auto& r = std::get<azwi::webhook::Review>(parsed);
  EXPECT_EQ(r.pod_members, 4u);  // as sent: kind, metadata, spec, status
  EXPECT_TRUE(r.dry_run);
  EXPECT_EQ(r.service_account, "sa");
  EXPECT_EQ(json::value(r.pod), json::parse(R"({"metadata":{"name":"p","labels":{"a":"b"}},
    "spec":{"serviceAccountName":"sa","volumes":[{"name":"v","projected":{"sources":[]}}],
      "containers":[{"name":"c","env":[{"name":"E","value":"1"}],"volumeMounts":[{"name":"v","mountPath":"/v"}]},7,[1]],
      "initContainers":{"not":"a list"}}})"))
      << json::serialize(r.pod);
  // Kept whole, everything is there.
  auto whole = azwi::webhook::parse_review(body, {}, true);
  EXPECT_TRUE(std::get<azwi::webhook::Review>(whole).pod.contains("status"));
  // A pod of nothing the webhook reads is still a pod (let through unlabelled), not "not a pod".
  std::string status_only = R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u",
    "operation":"CREATE","namespace":"ns","object":{"status":{}}}})";
  auto status_review = std::get<azwi::webhook::Review>(azwi::webhook::parse_review(status_only));
  auto answer = azwi::webhook::precheck(status_review);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->result, "skipped");
  // Malformed JSON is refused the same way.
  auto bad = azwi::webhook::parse_review(R"({"apiVersion": )");
  ASSERT_TRUE(std::holds_alternative<azwi::webhook::Answer>(bad));
  EXPECT_EQ(std::get<azwi::webhook::Answer>(bad).result, "malformed");
  auto trailing = azwi::webhook::parse_review(R"({} x)");
  EXPECT_NE(std::get<azwi::webhook::Answer>(trailing).body.find("not JSON"), std::string::npos);
}
