#pragma once
// The `azwi` subcommands, each taking its own name as argv[0]; each returns the process exit code.
namespace azwi::cli {
int jwks_command(int argc, char** argv);
int doctor_command(int argc, char** argv);
int podidentity_command(int argc, char** argv);
int serviceaccount_command(int argc, char** argv);
}  // namespace azwi::cli
