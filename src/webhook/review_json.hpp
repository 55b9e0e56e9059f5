#pragma once
// Parsing an AdmissionReview into JSON values, leaving out what the webhook never reads: it keeps only the members
// review_fields.hpp lists (in each container, only name, env and volumeMounts), so the request's userInfo, options
// and oldObject, and the pod's managedFields, probes, resources and status are never built into a document only to
// be thrown away. The answer for a review is the same either way (tests/webhook/fuzz_admission.cpp compares both on
// every input).
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
