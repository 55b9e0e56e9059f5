// azwi-emulator: a local Entra ID + Kubernetes OIDC issuer. Each subcommand parses its flags and hands them to
// src/emulator; nothing here decides behaviour.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>

#include "common/clock.hpp"
#include "common/flags.hpp"
#include "common/log.hpp"
#include "common/logging_flags.hpp"
#include "emulator/app.hpp"
#include "emulator/decode.hpp"
#include "emulator/files.hpp"
#include "emulator/keyring.hpp"
#include "emulator/mint.hpp"
#include "jwt/digest.hpp"

namespace fs = std::filesystem;
using namespace azwi;
using namespace azwi::emulator;

namespace {

constexpr const char* kUsage =
    "Usage: azwi-emulator <command> [flags]\n\n"
    "A local Entra ID (token endpoint, discovery) and Kubernetes cluster OIDC issuer for tests and demos.\n\n"
    "Commands:\n"
    "  serve          run the HTTPS server (OIDC issuer, Entra token endpoint, control API, optional IMDS)\n"
    "  mint-token     write a projected service-account token signed by the issuer's keys\n"
    "  decode-token   print a JWT's header and claims as JSON (no verification)\n"
    "  rotate-keys    retire the active signing keys and create new ones\n"
    "  version        print the version\n\n"
    "Run 'azwi-emulator <command> --help' for the flags of a command.\n";

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "azwi-emulator: %s\n", message.c_str());
  std::exit(1);
}

// A missing or malformed flag is a usage error: exit 2, as a flag the parser refuses.
[[noreturn]] void die_usage(const std::string& message) { exit_usage_error("azwi-emulator", message + " (see --help)"); }

int serve(int argc, char** argv) {
  ServeOptions o;
  std::string config, tenant, client, subject = "system:serviceaccount:default:workload-identity-sa", issuer,
                                      audience = "api://AzureADTokenExchange";
  log::LoggingFlags logging;
  FlagSet flags("azwi-emulator serve",
                "Serves the cluster OIDC issuer, the Entra ID token endpoint and discovery, and the test-only "
                "control API on one HTTPS listener. State (CA, serving certificate, signing keys) lives in "
                "--state-dir and is reused across starts; clients trust DIR/ca.crt.");
  flags.add_string("listen", &o.listen, "HTTPS listen address host:port (port 0: pick a free port)");
  flags.add_bool("allow-remote", &o.allow_remote,
                 "allow --listen, --imds-listen and --token-proxy-listen beyond loopback (anyone who reaches them gets tokens and the "
                 "control API)");
  flags.add_string("state-dir", &o.state_dir, "directory for the CA, certificates, signing keys and issuer URL (required)");
  flags.add_string("ready-file", &o.ready_file, "once listening, write the base URL (https://host:port/) here atomically");
  flags.add_string("public-url", &o.public_url, "base URL to advertise instead of the one derived from --listen");
  flags.add_list("san", &o.sans, "extra serving-certificate names, comma-separated (IPs or DNS names)");
  flags.add_string("config", &config, "JSON file of tenants, identities and federated credentials");
  flags.add_string("tenant-id", &tenant, "tenant of the single identity given by flags");
  flags.add_string("client-id", &client, "client ID of the single identity given by flags");
  flags.add_string("subject", &subject, "federated credential subject of that identity");
  flags.add_string("issuer", &issuer, "federated credential issuer of that identity (default: this emulator's issuer)");
  flags.add_string("audience", &audience, "federated credential audience of that identity");
  flags.add_int("token-lifetime", &o.token_lifetime, "access-token lifetime in seconds", 1, 86400 * 7);
  flags.add_int("refresh-in", &o.refresh_in, "refresh_in seconds in token answers (0: omit)", 0, 86400 * 7);
  flags.add_int("clock-skew", &o.clock_skew, "tolerated clock skew for assertion exp/nbf/iat, seconds", 0, 3600);
  flags.add_int("jwks-cache-ttl", &o.jwks_cache_ttl, "how long a fetched issuer JWKS is cached, seconds", 0, 86400);
  flags.add_int("credential-propagation-seconds", &o.credential_propagation_seconds,
                "seconds before the token endpoint uses a federated credential created through the ARM API", 0, 3600);
  flags.add_bool("imds", &o.imds, "also serve a plain-HTTP IMDS instance-metadata responder on --imds-listen");
  flags.add_string("imds-listen", &o.imds_listen, "IMDS responder listen address host:port");
  flags.add_string("imds-ready-file", &o.imds_ready_file, "once listening, write the IMDS base URL (http://host:port/) here");
  flags.add_string("token-proxy-listen", &o.token_proxy_listen,
                   "also serve a custom token endpoint (AKS identity bindings) on this host:port: its own CA "
                   "(STATE/token-proxy/ca.crt), a certificate for --token-proxy-name only, the exchange forwarded to "
                   "the Entra role");
  flags.add_string("token-proxy-name", &o.token_proxy_name,
                   "the one name the token proxy's certificate carries (clients send it as AZURE_KUBERNETES_SNI_NAME)");
  flags.add_string("token-proxy-path", &o.token_proxy_path,
                   "path of the token proxy's URL (e.g. /base): requests under it go to the Entra role without it");
  flags.add_string("token-proxy-ready-file", &o.token_proxy_ready_file,
                   "once listening, write the token proxy's base URL (https://host:port/) here");
  flags.add_int("latency-ms", &o.faults.latency_ms, "fault: delay every token answer by this many milliseconds", 0, 600000);
  flags.add_int("fail-next", &o.faults.fail_next, "fault: the next N token requests fail with --fail-status", 0, 1000000000);
  flags.add_int("fail-status", &o.faults.fail_status, "fault: HTTP status of injected failures", 400, 599);
  flags.add_int("retry-after", &o.faults.retry_after, "fault: Retry-After seconds on injected failures (0: none)", 0, 86400);
  flags.add_float("failure-rate", &o.faults.failure_rate, "fault: fraction 0.0..1.0 of token requests that fail at random",
                  0.0, 1.0);
  flags.add_int("outage-seconds", &o.faults.outage_seconds,
                "fault: every token request fails with 503 for this long after start", 0, 86400);
  flags.add_int("request-log-size", &o.request_log_size, "token requests kept for GET /_emulator/requests", 1, 1000000);
  logging.add_to(flags);
  parse_flags_or_exit(flags, argc, argv);
  logging.apply_or_exit("azwi-emulator");

  if (o.state_dir.empty()) die_usage("serve: --state-dir is required");
  try {
    if (!config.empty()) o.directory = load_directory(config);
    if (tenant.empty() != client.empty()) die_usage("serve: --tenant-id and --client-id go together");
    if (!tenant.empty()) add_identity(o.directory, tenant, client, FederatedCredential{"flags", issuer, subject, {audience}});
    SystemClock clock;
    Emulator emulator(std::move(o), clock);
    emulator.start();
    emulator.run();
  } catch (const std::exception& e) {
    die(std::string("serve: ") + e.what());
  }
  return 0;
}

std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int) { g_stop.store(true); }

int mint_token(int argc, char** argv) {
  MintOptions o;
  std::string state_dir, out, alg = "RS256";
  log::LoggingFlags logging;
  int lifetime = 3600, time_offset = 0;
  bool keep_fresh = false;
  FlagSet flags("azwi-emulator mint-token",
                "Writes a projected service-account token signed with the issuer keys of --state-dir, as the "
                "kube-apiserver would issue it. With --keep-fresh it keeps rewriting the file (write + rename) at "
                "80% of the token's lifetime, as the kubelet does, until SIGTERM or SIGINT.");
  flags.add_string("state-dir", &state_dir, "the emulator's state directory (required)");
  flags.add_string("out", &out, "token file to write, or - for standard output (required)");
  flags.add_string("namespace", &o.namespace_name, "service account namespace");
  flags.add_string("service-account", &o.service_account, "service account name");
  flags.add_string("audience", &o.audience, "token audience");
  flags.add_int("lifetime", &lifetime, "token lifetime in seconds", 1, 86400 * 365);
  flags.add_string("pod-name", &o.pod_name, "pod name for the kubernetes.io claim (empty: none)");
  flags.add_string("issuer", &o.issuer, "iss claim (default: the issuer the server in --state-dir publishes)");
  flags.add_string("alg", &alg, "signing algorithm: RS256 or ES256");
  flags.add_bool("keep-fresh", &keep_fresh, "keep rewriting the token file at 80% of its lifetime");
  flags.add_int("time-offset", &time_offset,
                "testing aid: shift iat/nbf/exp by this many seconds (negative: already expired)", -86400 * 365,
                86400 * 365);
  logging.add_to(flags);
  parse_flags_or_exit(flags, argc, argv);
  logging.apply_or_exit("azwi-emulator");
  if (state_dir.empty() || out.empty()) die_usage("mint-token: --state-dir and --out are required");
  auto parsed_alg = jwt::parse_alg(alg);
  if (!parsed_alg) die_usage("mint-token: --alg must be RS256 or ES256");
  if (keep_fresh && out == "-") die_usage("mint-token: --keep-fresh needs a file for --out");
  o.alg = *parsed_alg;
  o.lifetime = lifetime;
  o.time_offset = time_offset;
  if (o.issuer.empty()) {
    auto stored = read_file(fs::path(state_dir) / "issuer-url");
    if (!stored || stored->empty())
      die("mint-token: no issuer known in " + state_dir + ": start 'azwi-emulator serve --state-dir " + state_dir +
          "' once, or pass --issuer");
    o.issuer = *stored;
  }
  try {
    fs::create_directories(state_dir);
    KeyRing keys(fs::path(state_dir) / "issuer-keys.json");
    SystemClock clock;
    keys.ensure(unix_seconds(clock.now()));
    log::Logger logger("mint-token");
    auto report = [&](const MintedToken& t) {
      logger.info("token written", {{"file", out}, {"sub", "system:serviceaccount:" + o.namespace_name + ":" + o.service_account},
                                    {"iss", o.issuer}, {"kid", t.kid}, {"exp", t.exp},
                                    {"fingerprint", jwt::fingerprint(t.token)}});
    };
    if (!keep_fresh) {
      MintedToken t = mint_service_account_token(keys, o, unix_seconds(clock.now()));
      if (out == "-") {
        std::fwrite(t.token.data(), 1, t.token.size(), stdout);
        std::fputc('\n', stdout);
      } else {
        write_file_atomically(out, t.token, 0644);
        report(t);
      }
      return 0;
    }
    std::signal(SIGTERM, on_stop_signal);
    std::signal(SIGINT, on_stop_signal);
    keep_token_fresh(keys, o, out, clock, g_stop, report);
  } catch (const std::exception& e) {
    die(std::string("mint-token: ") + e.what());
  }
  return 0;
}

int decode_token(int argc, char** argv) {
  FlagSet flags("azwi-emulator decode-token [FILE|-]",
                "Prints the header and claims of the JWT in FILE (or standard input) as JSON. Verifies nothing.");
  auto args = parse_flags_or_exit(flags, argc, argv);
  if (args.size() > 1) die_usage("decode-token: at most one file");
  std::string text;
  if (args.empty() || args[0] == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    auto content = read_file(args[0]);
    if (!content) die("decode-token: cannot read " + args[0]);
    text = *content;
  }
  try {
    std::fputs(describe_token(text).c_str(), stdout);
  } catch (const std::exception& e) {
    die(std::string("decode-token: not a JWT: ") + e.what());
  }
  return 0;
}

int rotate_keys(int argc, char** argv) {
  std::string state_dir, ring = "issuer", alg;
  FlagSet flags("azwi-emulator rotate-keys",
                "Retires the active signing keys and creates new ones. Retired keys stay in the published JWKS "
                "until every token signed with them has expired. A running server picks the change up at once.");
  flags.add_string("state-dir", &state_dir, "the emulator's state directory (required)");
  flags.add_string("ring", &ring, "which keys: issuer (service-account tokens) or entra (access tokens)");
  flags.add_string("alg", &alg, "rotate only this algorithm: RS256 or ES256 (default: both)");
  parse_flags_or_exit(flags, argc, argv);
  if (state_dir.empty()) die_usage("rotate-keys: --state-dir is required");
  if (ring != "issuer" && ring != "entra") die_usage("rotate-keys: --ring must be issuer or entra");
  std::vector<jwt::Alg> algs;
  if (!alg.empty()) {
    auto a = jwt::parse_alg(alg);
    if (!a) die_usage("rotate-keys: --alg must be RS256 or ES256");
    algs.push_back(*a);
  }
  // Rotating keys nobody serves is a mistake (a mistyped path), not a reason to create a state directory.
  if (!fs::is_directory(state_dir))
    die("rotate-keys: no state directory " + state_dir + ": start 'azwi-emulator serve --state-dir " + state_dir +
        "' first (it creates the keys), or give the directory a server uses");
  try {
    KeyRing keys(fs::path(state_dir) / (ring + "-keys.json"));
    SystemClock clock;
    auto now = unix_seconds(clock.now());
    keys.ensure(now);
    auto r = keys.rotate(now, algs);
    for (const auto& k : r.retired) std::printf("retired %s\n", k.c_str());
    for (const auto& k : r.created) std::printf("created %s\n", k.c_str());
  } catch (const std::exception& e) {
    die(std::string("rotate-keys: ") + e.what());
  }
  return 0;
}

int version(int argc, char** argv) {
  FlagSet flags("azwi-emulator version", "Prints the version.");
  parse_flags_or_exit(flags, argc, argv);
  std::printf("azwi-emulator %s\n", AZWI_VERSION);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return run_command("azwi-emulator", kUsage,
                     {{"serve", serve},
                      {"mint-token", mint_token},
                      {"decode-token", decode_token},
                      {"rotate-keys", rotate_keys},
                      {"version", version},
                      {"--version", version}},
                     argc, argv);
}
