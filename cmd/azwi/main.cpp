// azwi: the migration toolkit. Each subcommand lives in src/cli; this only dispatches.
#include <cstdio>
#include <string_view>

#include "cli/commands.hpp"

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
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  std::string_view cmd = argv[1];
  // Each command sees its own name as argv[0].
  if (cmd == "jwks") return azwi::cli::jwks_command(argc - 1, argv + 1);
  if (cmd == "doctor") return azwi::cli::doctor_command(argc - 1, argv + 1);
  if (cmd == "podidentity") return azwi::cli::podidentity_command(argc - 1, argv + 1);
  if (cmd == "serviceaccount") return azwi::cli::serviceaccount_command(argc - 1, argv + 1);
  if (cmd == "version" || cmd == "--version") {
    std::printf("azwi %s\n", AZWI_VERSION);
    return 0;
  }
  if (cmd == "help" || cmd == "--help" || cmd == "-h") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  std::fprintf(stderr, "azwi: unknown command \"%.*s\"\n\n%s", static_cast<int>(cmd.size()), cmd.data(), kUsage);
  return 2;
}
