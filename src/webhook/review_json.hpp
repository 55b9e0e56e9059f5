#pragma once
// Parsing an AdmissionReview into JSON values, leaving out what the webhook never reads: the request's userInfo,
// options and oldObject, and in the pod everything but metadata.{name, generateName, namespace, labels,
// annotations} and spec.{serviceAccountName, hostNetwork, volumes, initContainers, containers} with, in each
// container, only name, env and volumeMounts. Real reviews carry managedFields, probes, resources and status that
// would otherwise be built into a document only to be thrown away. The answer for a review is the same either way
// (tests/webhook/fuzz_admission.cpp compares both on every input).
#include <boost/json/error.hpp>
#include <boost/json/storage_ptr.hpp>
#include <boost/json/value.hpp>
#include <string_view>

namespace azwi::webhook {

struct ReviewJson {
  boost::json::value document;
  // request.object as parsed, before anything was left out: an object with this many members (0 when it is not
  // an object), so that "an empty pod" means the same as for the whole document.
  std::size_t pod_members = 0;
};

// `whole`: keep everything (the reference the pruned form is checked against). Errors as boost::json::parse.
ReviewJson parse_review_json(std::string_view body, boost::json::storage_ptr sp, bool whole,
                             boost::json::error_code& ec);

}  // namespace azwi::webhook
