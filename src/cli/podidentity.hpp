#pragma once
// `azwi podidentity detect`: from aad-pod-identity's objects (AzureIdentity, AzureIdentityBinding,
// AzurePodIdentityException) and the pods labelled aadpodidbinding with their owners, the files that move each
// workload to workload identity through the sidecar: a ServiceAccount, a patch of the owner, and the federated
// credential that must exist. plan_migration is pure (objects in, files and a report out); the command reads the
// cluster and writes the files.
#include <boost/json/object.hpp>
#include <map>
#include <string>
#include <vector>

#include "cli/report.hpp"

namespace azwi::kube {
class ApiClient;
}

namespace azwi::cli {

inline constexpr std::string_view kPodIdentityGroup = "aadpodidentity.k8s.io";
inline constexpr std::string_view kPodIdentityLabel = "aadpodidbinding";

struct DetectOptions {
  int proxy_port = 8000;
  int token_expiration = 0;  // 0: leave the webhook's default
  std::string tenant_id;     // for identities that name none
  std::string audience = "api://AzureADTokenExchange";
};

struct DetectInputs {
  std::string ns;
  std::string issuer;  // the cluster's service account issuer
  std::vector<boost::json::object> identities, bindings, exceptions, pods;
  // Owners by "Kind/name" (ReplicaSet, Deployment, StatefulSet, DaemonSet, Job, CronJob) as read from the API.
  std::map<std::string, boost::json::object> owners;
};

struct PlannedFile {
  std::string path;  // relative to the output directory
  std::string content;
};

struct DetectPlan {
  Report report;
  std::vector<PlannedFile> files;
};

DetectPlan plan_migration(const DetectInputs& inputs, const DetectOptions& options);

// Reads everything plan_migration needs from the API server. Throws std::runtime_error saying what could not be read.
DetectInputs read_detect_inputs(kube::ApiClient& api, const std::string& ns, const std::string& issuer_override);

// A small YAML rendering of a JSON value (block style, every string quoted): enough for the manifests written here.
std::string to_yaml(const boost::json::value& v);

int podidentity_command(int argc, char** argv);

}  // namespace azwi::cli
