// azwi: the migration toolkit. Each subcommand lives in src/cli; this only dispatches.
#include <cstdio>
#include <string_view>

#include "cli/commands.hpp"
#include "common/flags.hpp"

namespace {
constexpr const char* kUsage =
    "Usage: azwi <command> [flags]\n\n"
    "The migration toolkit of this project's workload identity stack (same command names and flags as upstream's\n"
    "azwi where upstream has them).\n\n"
    "Commands:\n"
    "  podidentity detect      write service accounts, workload patches and federated credentials for the\n"
    "                          aad-pod-identity workloads of a namespace, to review and apply\n"
    "  serviceaccount create   create the Kubernetes service account and the identity's federated credential (ARM)\n"
    "  serviceaccount delete   delete them\n"
    "  jwks                    the JWKS document of the API server's signing keys (self-managed issuers)\n"
    "  doctor pod NAME         why one pod does or does not get tokens\n"
    "  version                 print the version\n\n"
    "Run 'azwi <command> --help' for the flags of a command.\n";

int version(int, char**) {
  std::printf("azwi %s\n", AZWI_VERSION);
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  using namespace azwi::cli;
  return azwi::run_command("azwi", kUsage,
                           {{"jwks", jwks_command},
                            {"doctor", doctor_command},
                            {"podidentity", podidentity_command},
                            {"serviceaccount", serviceaccount_command},
                            {"version", version},
                            {"--version", version}},
                           argc, argv);
}
