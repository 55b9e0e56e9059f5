// `azwi serviceaccount create|delete`: the Kubernetes ServiceAccount and the federated identity credential on a
// user-assigned managed identity (ARM), in upstream's phase style (--skip-phase).
#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <algorithm>
#include <cstdio>
#include <iostream>

#include "cli/arm.hpp"
#include "cli/commands.hpp"
#include "cli/json_access.hpp"
#include "cli/report.hpp"
#include "cli/propagation.hpp"
#include "cli/service_account_token.hpp"
#include "common/env.hpp"
#include "common/flags.hpp"
#include "identity/authority.hpp"
#include "kube/client.hpp"
#include "webhook/mutation.hpp"

namespace azwi::cli {
namespace json = boost::json;

namespace {

constexpr std::string_view kPhaseServiceAccount = "service-account";
constexpr std::string_view kPhaseCredential = "federated-identity-credential";
constexpr std::string_view kPhaseExchange = "token-exchange";

struct Options {
  std::string ns = "default", name, issuer, credential_name, audience = "api://AzureADTokenExchange", client_id,
              tenant_id, kubeconfig, output = "text",
              authority = env_or("AZURE_AUTHORITY_HOST", std::string(identity::kDefaultAuthorityHost));
  int token_expiration = 0;
  std::vector<std::string> skip;
  ArmFlags arm;
  bool skipped(std::string_view phase) const { return std::find(skip.begin(), skip.end(), phase) != skip.end(); }
};

std::string sa_path(const Options& o) {
  return "/api/v1/namespaces/" + http::form_encode(o.ns) + "/serviceaccounts/" + http::form_encode(o.name);
}

std::string cluster_issuer(kube::ApiClient& api, std::string* error) {
  auto r = api.request("GET", "/.well-known/openid-configuration");
  if (!r.error.empty() || r.status != 200) {
    *error = r.error.empty() ? kube::api_status_message(r.status, r.body) : r.error;
    return {};
  }
  json::error_code ec;
  auto v = json::parse(r.body, ec);
  return !ec && v.is_object() ? string_at(v.get_object(), "issuer") : std::string();
}

// Server-side apply: creates the account or adds the annotations and label to an existing one, keeping the rest.
std::string apply_service_account(kube::ApiClient& api, const Options& o, const std::string& client_id,
                                  const std::string& tenant_id) {
  json::object annotations{{std::string(webhook::kClientIdAnnotation), client_id}};
  if (!tenant_id.empty()) annotations[webhook::kTenantIdAnnotation] = tenant_id;
  if (o.token_expiration > 0) annotations[webhook::kTokenExpirationAnnotation] = std::to_string(o.token_expiration);
  json::object sa{{"apiVersion", "v1"},
                  {"kind", "ServiceAccount"},
                  {"metadata", json::object{{"name", o.name},
                                            {"namespace", o.ns},
                                            {"annotations", std::move(annotations)},
                                            {"labels", json::object{{std::string(webhook::kUseLabel), "true"}}}}}};
  auto r = api.request("PATCH", sa_path(o) + "?fieldManager=azwi&force=true", json::serialize(sa),
                       "application/apply-patch+yaml");
  if (!r.error.empty()) return r.error;
  if (r.status != 200 && r.status != 201) return "apply ServiceAccount " + o.ns + "/" + o.name + ": " +
                                                 kube::api_status_message(r.status, r.body);
  return {};
}

// A token of the new account exchanged at Entra ID, retried with backoff while Entra does not use the credential yet.
Check verify_exchange(kube::ApiClient& api, const Options& o, const std::string& client_id, const std::string& tenant_id) {
  Check c{std::string(kPhaseExchange), Status::ok, "", {}, {}};
  if (tenant_id.empty()) {
    c.status = Status::fail;
    c.summary = "no tenant ID to exchange in";
    c.fix = "give --tenant-id (or set AZURE_TENANT_ID), or skip the phase";
    return c;
  }
  auto token = request_service_account_token(api, o.ns, o.name, o.audience);
  if (token.index() == 1) {
    c.status = Status::fail;
    c.summary = "cannot get a token of the service account: " + std::get<1>(token);
    return c;
  }
  identity::AsioTransport transport(http::client_options_from_env("azwi/" AZWI_VERSION),
                                    http::EgressProxySettings::from_environment());
  SystemClock clock;
  auto r = await_federation(transport, clock, propagation_policy(),
                            ExchangeTarget{o.authority, tenant_id, client_id,
                                           identity::scope_for_resource(o.arm.arm_resource)},
                            std::get<0>(token));
  auto seconds = std::to_string(r.waited.count() / 1000);
  c.details.emplace_back("attempts", std::to_string(r.attempts));
  c.details.emplace_back("waited", seconds + " s");
  if (r.accepted) {
    c.summary = "Entra ID accepts the account's token for client ID " + client_id;
    return c;
  }
  c.status = Status::fail;
  c.summary = is_propagation_code(r.error_code)
                  ? "Entra ID still does not use the credential after " + seconds + " s: " + r.error
                  : "Entra ID refuses the exchange: " + r.error;
  c.fix = is_propagation_code(r.error_code) ? "wait a little longer and try again; pods get tokens once it propagates"
                                            : "see docs/troubleshooting.md for " + r.error.substr(0, r.error.find(':'));
  return c;
}

int finish(const Report& report, const Options& o) {
  auto format = parse_output_format(o.output);
  std::cout << (format == OutputFormat::json ? render_json(report) : render_text(report, stdout_wants_colour()));
  return report.has_failure() ? 1 : 0;
}

int create(const Options& o) {
  Report report;
  report.subject = "service account " + o.ns + "/" + o.name;
  std::unique_ptr<kube::ApiClient> api;
  auto kube_api = [&]() -> kube::ApiClient& {
    if (!api) api = std::make_unique<kube::ApiClient>(kube::resolve_cluster_config(o.kubeconfig));
    return *api;
  };
  std::string client_id = o.client_id, tenant_id = o.tenant_id;

  if (o.skipped(kPhaseCredential)) {
    report.checks.push_back({std::string(kPhaseCredential), Status::skip, "skipped", {}, {}});
  } else {
    std::string issuer = o.issuer, error;
    if (issuer.empty()) issuer = cluster_issuer(kube_api(), &error);
    if (issuer.empty()) {
      report.checks.push_back({std::string(kPhaseCredential), Status::fail,
                               "cannot tell the cluster's issuer" + (error.empty() ? "" : ": " + error), {},
                               "give --service-account-issuer-url"});
      return finish(report, o);
    }
    ArmClient arm(o.arm.endpoint(), arm_credential_from_env(o.arm));
    ArmIdentity identity;
    if (auto e = arm.get_identity(o.arm.identity_path(), &identity); !e.empty()) {
      report.checks.push_back({std::string(kPhaseCredential), Status::fail, "cannot read the identity: " + e, {}, {}});
      return finish(report, o);
    }
    if (client_id.empty()) client_id = identity.client_id;
    if (tenant_id.empty() && !o.arm.identity_name.empty()) tenant_id = identity.tenant_id;
    FederatedCredential fc{o.credential_name.empty() ? o.ns + "-" + o.name : o.credential_name, issuer,
                           "system:serviceaccount:" + o.ns + ":" + o.name, {o.audience}};
    auto e = arm.put_federated_credential(o.arm.identity_path(), fc);
    Check c{std::string(kPhaseCredential), e.empty() ? Status::ok : Status::fail,
            e.empty() ? "federated credential " + fc.name + " on identity " + o.arm.identity_name
                      : "cannot create the federated credential: " + e,
            {{"issuer", fc.issuer}, {"subject", fc.subject}, {"audience", o.audience}, {"client-id", identity.client_id}},
            {}};
    if (arm.last_attempts() > 1) c.details.emplace_back("attempts", std::to_string(arm.last_attempts()));
    if (e.empty())
      c.details.emplace_back("propagation", "Entra ID can take a minute or two to use a new credential; the sidecar "
                                            "asks again on the application's next request");
    report.checks.push_back(std::move(c));
    if (!e.empty()) return finish(report, o);
  }

  if (o.skipped(kPhaseServiceAccount)) {
    report.checks.push_back({std::string(kPhaseServiceAccount), Status::skip, "skipped", {}, {}});
  } else if (client_id.empty()) {
    report.checks.push_back({std::string(kPhaseServiceAccount), Status::fail,
                             "no client ID to annotate the service account with", {},
                             "give --client-id, or let the federated-identity-credential phase read it from ARM"});
  } else {
    std::string e;
    try {
      e = apply_service_account(kube_api(), o, client_id, tenant_id);
    } catch (const std::exception& ex) {
      e = ex.what();
    }
    Check c{std::string(kPhaseServiceAccount), e.empty() ? Status::ok : Status::fail,
            e.empty() ? "ServiceAccount " + o.ns + "/" + o.name + " annotated and labelled" : e,
            {{std::string(webhook::kClientIdAnnotation), client_id}}, {}};
    if (!tenant_id.empty()) c.details.emplace_back(std::string(webhook::kTenantIdAnnotation), tenant_id);
    bool ok = c.status == Status::ok;
    report.checks.push_back(std::move(c));
    if (!ok) return finish(report, o);
  }

  // The exchange shows that the credential created above has propagated; without one created here there is nothing to wait for.
  if (o.skipped(kPhaseExchange) || o.skipped(kPhaseCredential)) {
    report.checks.push_back({std::string(kPhaseExchange), Status::skip,
                             o.skipped(kPhaseExchange) ? "skipped" : "skipped (no credential created in this run)", {}, {}});
  } else if (!client_id.empty()) {
    try {
      report.checks.push_back(verify_exchange(kube_api(), o, client_id, tenant_id.empty() ? env_or("AZURE_TENANT_ID", "") : tenant_id));
    } catch (const std::exception& e) {
      report.checks.push_back({std::string(kPhaseExchange), Status::fail, e.what(), {}, {}});
    }
  }
  return finish(report, o);
}

int remove(const Options& o) {
  Report report;
  report.subject = "service account " + o.ns + "/" + o.name;
  if (o.skipped(kPhaseCredential)) {
    report.checks.push_back({std::string(kPhaseCredential), Status::skip, "skipped", {}, {}});
  } else {
    ArmClient arm(o.arm.endpoint(), arm_credential_from_env(o.arm));
    std::string name = o.credential_name.empty() ? o.ns + "-" + o.name : o.credential_name;
    auto e = arm.delete_federated_credential(o.arm.identity_path(), name);
    report.checks.push_back({std::string(kPhaseCredential), e.empty() ? Status::ok : Status::fail,
                             e.empty() ? "federated credential " + name + " deleted (or was not there)"
                                       : "cannot delete the federated credential: " + e,
                             {}, {}});
  }
  if (o.skipped(kPhaseServiceAccount)) {
    report.checks.push_back({std::string(kPhaseServiceAccount), Status::skip, "skipped", {}, {}});
  } else {
    std::string e;
    try {
      kube::ApiClient api(kube::resolve_cluster_config(o.kubeconfig));
      auto r = api.request("DELETE", sa_path(o));
      if (!r.error.empty()) e = r.error;
      else if (r.status != 200 && r.status != 202 && r.status != 404) e = kube::api_status_message(r.status, r.body);
    } catch (const std::exception& ex) {
      e = ex.what();
    }
    report.checks.push_back({std::string(kPhaseServiceAccount), e.empty() ? Status::ok : Status::fail,
                             e.empty() ? "ServiceAccount " + o.ns + "/" + o.name + " deleted (or was not there)"
                                       : "cannot delete the ServiceAccount: " + e,
                             {}, {}});
  }
  return finish(report, o);
}


// argv[0] is "create" or "delete".
int serviceaccount_verb(int argc, char** argv) {
  std::string_view verb = argv[0];
  Options o;
  bool creating = verb == "create";
  FlagSet flags(std::string("azwi serviceaccount ") + std::string(verb),
                creating ? "Creates, in phases (skip any with --skip-phase):\n"
                           "  federated-identity-credential  the credential on the user-assigned managed identity\n"
                           "                                 (PUT .../userAssignedIdentities/NAME/federatedIdentityCredentials/FIC\n"
                           "                                 through ARM; retried with backoff while ARM has not caught up)\n"
                           "  service-account                the ServiceAccount, annotated with the identity's client ID\n"
                           "                                 (read from ARM unless --client-id) and labelled (server-side apply)\n"
                           "  token-exchange                 (after a credential was created) a token of the account\n"
                           "                                 exchanged at Entra ID, retried with backoff (1, 2, 4, 8, 16 s\n"
                           "                                 ..., up to 2 minutes) while Entra does not use the new\n"
                           "                                 credential yet (AADSTS70021, 700211-700213)"
                         : "Deletes, in phases (skip any with --skip-phase): federated-identity-credential, then\n"
                           "service-account. What is already gone counts as deleted.");
  flags.add_string("service-account-namespace", &o.ns, "namespace of the service account");
  flags.add_string("service-account-name", &o.name, "name of the service account (required)");
  if (creating) {
    flags.add_string("service-account-issuer-url", &o.issuer,
                     "the cluster's OIDC issuer (default: the API server's /.well-known/openid-configuration)");
    flags.add_int("service-account-token-expiration", &o.token_expiration,
                  "annotate the account with this projected token lifetime in seconds (3600..86400; 0: none)", 0, 86400);
    flags.add_string("audience", &o.audience, "audience of the federated credential");
    flags.add_string("client-id", &o.client_id, "client ID to annotate with (default: the identity's, from ARM)");
    flags.add_string("tenant-id", &o.tenant_id, "tenant ID to annotate with (default: the identity's, from ARM)");
    flags.add_string("authority-host", &o.authority, "Entra ID authority for the token-exchange phase");
  }
  flags.add_string("federated-credential-name", &o.credential_name, "name of the credential (default NAMESPACE-NAME)");
  flags.add_list("skip-phase", &o.skip,
                 creating ? "phase to skip: federated-identity-credential, service-account or token-exchange (repeatable)"
                          : "phase to skip: federated-identity-credential or service-account (repeatable)");
  flags.add_string("kubeconfig", &o.kubeconfig, "kubeconfig file (else $KUBECONFIG, else in-cluster)");
  flags.add_string("output", &o.output, "text or json");
  flags.add_string("o", &o.output, "shorthand for --output");
  o.arm.add_to(flags, false);
  parse_flags_or_exit(flags, argc, argv);
  std::string problem;
  for (const auto& p : o.skip)
    if (p != kPhaseCredential && p != kPhaseServiceAccount && (p != kPhaseExchange || !creating)) problem = "unknown phase \"" + p + "\" for --skip-phase";
  if (o.name.empty()) problem = "--service-account-name is required";
  if (!parse_output_format(o.output)) problem = "--output must be text or json";
  if (o.token_expiration != 0 && o.token_expiration < 3600)
    problem = "--service-account-token-expiration must be 3600..86400";
  if (!o.skipped(kPhaseCredential) && !o.arm.missing().empty())
    problem = o.arm.missing() + " required for the federated-identity-credential phase (or skip it)";
  if (!problem.empty()) exit_usage_error("azwi serviceaccount " + std::string(verb), problem);
  try {
    return creating ? create(o) : remove(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "azwi serviceaccount %.*s: %s\n", static_cast<int>(verb.size()), verb.data(), e.what());
    return 1;
  }
}

}  // namespace

int serviceaccount_command(int argc, char** argv) {
  return run_command("azwi serviceaccount",
                     "Usage: azwi serviceaccount create|delete [flags]\n\n"
                     "Run 'azwi serviceaccount create --help' for the flags.\n",
                     {{"create", serviceaccount_verb}, {"delete", serviceaccount_verb}}, argc, argv,
                     /*unknown_line=*/false);
}

}  // namespace azwi::cli
