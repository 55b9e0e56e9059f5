#pragma once
// `azwi doctor pod`: why one pod does or does not get tokens. Gathering (the API server, optionally ARM) is apart
// from judging: diagnose() is a pure function from what was read to a Report, so each failure of
// docs/troubleshooting.md is a table row in the unit tests as well as a pod on the real cluster.
#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/federated_credential.hpp"
#include "cli/report.hpp"

namespace azwi::kube {
class ApiClient;
}

namespace azwi::cli {

// One object read from the API server: the object, or not found, or why it could not be read.
struct Read {
  std::optional<boost::json::object> object;
  bool not_found = false;
  std::string error;
};

struct PodFacts {
  std::string ns, name;
  Read pod;
  Read service_account;
  Read webhook_config;  // the MutatingWebhookConfiguration
  // Claims of a token the API server issued for the pod's service account, bound to the pod, with the audience of
  // the pod's projected volume: the same iss, sub and aud as the token the kubelet mounted. Never the token itself.
  std::optional<boost::json::object> token_claims;
  std::string token_error;
  std::string sidecar_log, sidecar_log_error;  // the tail of azwi-proxy's log
  std::string init_log;                        // the tail of azwi-proxy-init's log
  std::vector<boost::json::object> events;     // Warning events about the pod, oldest first
  // The identity's federated credentials through ARM, when the caller named the identity.
  std::optional<std::vector<FederatedCredential>> credentials;
  std::string credentials_error;
  std::string identity;  // "subscriptions/.../userAssignedIdentities/NAME", for messages
};

Report diagnose(const PodFacts& facts);

struct DoctorTarget {
  std::string ns, name;
  std::string webhook_config_name = "azure-wi-webhook-mutating-webhook-configuration";
  int log_lines = 200;
};
PodFacts gather_pod_facts(kube::ApiClient& api, const DoctorTarget& target);

int doctor_command(int argc, char** argv);

}  // namespace azwi::cli
