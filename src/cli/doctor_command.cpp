// `azwi doctor pod NAME`: flags, the clients, gathering, and the rendering the user asked for.
#include <cstdio>
#include <iostream>

#include "cli/arm.hpp"
#include "cli/commands.hpp"
#include "cli/doctor.hpp"
#include "common/flags.hpp"
#include "kube/client.hpp"

namespace azwi::cli {

namespace {
// argv[0] is "pod".
int doctor_pod(int argc, char** argv) {
  std::string ns = "default", kubeconfig, output = "text", webhook_config = "azure-wi-webhook-mutating-webhook-configuration";
  ArmFlags arm;
  FlagSet flags("azwi doctor pod NAME",
                "A readable report of why this pod does or does not get tokens: its label, its service account and\n"
                "annotations, whether the webhook mutated it (and the sidecar's mode), the claims of its projected\n"
                "token (decoded from a token the API server issues for the pod's service account, bound to the pod,\n"
                "with the pod's audience; never printed whole), the identity's federated credentials through ARM\n"
                "when the identity is named, the sidecar's health and its last error, Entra's AADSTS code explained,\n"
                "and the pod's warning events. Exit 0 when nothing failed, 1 when a check failed, 2 on bad usage.");
  flags.add_string("namespace", &ns, "the pod's namespace");
  flags.add_string("n", &ns, "shorthand for --namespace");
  flags.add_string("output", &output, "text (aligned, coloured on a terminal) or json");
  flags.add_string("o", &output, "shorthand for --output");
  flags.add_string("kubeconfig", &kubeconfig, "kubeconfig file (else $KUBECONFIG, else in-cluster)");
  flags.add_string("webhook-config-name", &webhook_config, "the webhook's MutatingWebhookConfiguration");
  arm.add_to(flags, /*for_doctor=*/true);
  auto positional = parse_flags_or_exit(flags, argc, argv);
  auto format = parse_output_format(output);
  if (!format) exit_usage_error("azwi doctor", "invalid value \"" + output + "\" for --output: expected text or json");
  if (positional.size() != 1) exit_usage_error("azwi doctor pod", "give exactly one pod name (see --help)");
  PodFacts facts;
  try {
    kube::ApiClient api(kube::resolve_cluster_config(kubeconfig));
    facts = gather_pod_facts(api, DoctorTarget{ns, positional[0], webhook_config});
  } catch (const std::exception& e) {
    std::fprintf(stderr, "azwi doctor: %s\n", e.what());
    return 1;
  }
  if (arm.identity_named()) {
    facts.identity = arm.identity_path();
    try {
      ArmClient client(arm.endpoint(), arm_credential_from_env(arm));
      auto listed = client.list_federated_credentials(arm.identity_path());
      if (listed.error.empty()) facts.credentials = std::move(listed.credentials);
      else facts.credentials_error = listed.error;
    } catch (const std::exception& e) {
      facts.credentials_error = e.what();
    }
  }
  Report report = diagnose(facts);
  std::cout << (*format == OutputFormat::json ? render_json(report) : render_text(report, stdout_wants_colour()));
  return report.has_failure() ? 1 : 0;
}

}  // namespace

int doctor_command(int argc, char** argv) {
  return run_command("azwi doctor",
                     "Usage: azwi doctor pod NAME [-n NAMESPACE] [flags]\n\n"
                     "Explains why one pod does or does not get tokens. Run 'azwi doctor pod --help' for the flags.\n",
                     {{"pod", doctor_pod}}, argc, argv, /*unknown_line=*/false);
}

}  // namespace azwi::cli
