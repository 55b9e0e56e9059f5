// Unit tests of the azwi CLI's pure parts: the report renderers, jwks, the AADSTS table, the doctor's diagnosis of
// each troubleshooting case, the credential match, podidentity's plan, and the ARM client's retries.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>

#include "cli/aadsts.hpp"
#include "cli/arm.hpp"
#include "cli/doctor.hpp"
#include "cli/jwks.hpp"
#include "cli/podidentity.hpp"
#include "cli/propagation.hpp"
#include "cli/report.hpp"
#include "common/base64.hpp"
#include "jwt/digest.hpp"
#include "jwt/jwks.hpp"

using namespace azwi;
using namespace azwi::cli;
namespace json = boost::json;

namespace {
json::object obj(std::string_view text) { return json::parse(text).as_object(); }

std::string run(const std::string& command) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  for (std::size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  pclose(p);
  return out;
}
}  // namespace

// ---- report ----

TEST(Report, TextAlignsColumnsAndColoursOnlyWhenAsked) {
  Report r{"pod ns/p", {{"label", Status::ok, "fine", {}, ""},
                        {"service-account", Status::fail, "missing", {{"client-id", "x"}, {"tenant", "t"}}, "do it"}}};
  std::string text = render_text(r, false);
  EXPECT_EQ(text,
            "pod ns/p\n"
            "  OK    label            fine\n"
            "  FAIL  service-account  missing\n"
            "                         client-id: x\n"
            "                         tenant:    t\n"
            "                         fix: do it\n");
  EXPECT_EQ(text.find("\x1b["), std::string::npos);
  std::string colour = render_text(r, true);
  EXPECT_NE(colour.find("\x1b[31;1mFAIL  \x1b[0m"), std::string::npos) << colour;
  EXPECT_TRUE(r.has_failure());
}

TEST(Report, JsonHasEveryCheckAndTheVerdict) {
  Report r{"s", {{"a", Status::warn, "w", {{"k", "v"}}, "f"}, {"b", Status::skip, "s", {}, ""}}};
  auto v = json::parse(render_json(r)).as_object();
  EXPECT_EQ(v.at("ok").as_bool(), true);
  const auto& checks = v.at("checks").as_array();
  ASSERT_EQ(checks.size(), 2u);
  EXPECT_EQ(checks[0].at("status").as_string(), "warn");
  EXPECT_EQ(checks[0].at("details").at("k").as_string(), "v");
  EXPECT_EQ(checks[0].at("fix").as_string(), "f");
  EXPECT_FALSE(checks[1].as_object().contains("fix"));
  EXPECT_EQ(parse_output_format("json"), OutputFormat::json);
  EXPECT_FALSE(parse_output_format("yaml"));
}

// ---- jwks ----

TEST(Jwks, KidIsWhatOpensslComputesForTheDerPublicKeyAsKubernetesDoes) {
  auto dir = std::filesystem::temp_directory_path() / ("azwi-jwks-" + jwt::random_uuid());
  std::filesystem::create_directories(dir);
  jwt::Key key = jwt::Key::generate(jwt::Alg::RS256);
  std::ofstream(dir / "sa.key") << key.private_pem();
  // Independently: openssl's DER SubjectPublicKeyInfo, SHA-256, base64url without padding.
  std::string expected = run("openssl pkey -in " + (dir / "sa.key").string() +
                             " -pubout -outform DER | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=\\n'");
  ASSERT_FALSE(expected.empty());
  EXPECT_EQ(kubernetes_key_id(key), expected);

  jwt::Key ec = jwt::Key::generate(jwt::Alg::ES256);
  std::string doc = jwks_from_pem_files({{"a.pub", key.public_pem()}, {"b.key", ec.private_pem()},
                                         {"a-again.key", key.private_pem()}});
  auto set = jwt::parse_jwks(doc);
  ASSERT_EQ(set.keys.size(), 2u);  // the same key twice is published once
  EXPECT_EQ(set.keys[0].kid(), expected);
  EXPECT_EQ(set.keys[1].kid(), kubernetes_key_id(ec));
  EXPECT_EQ(doc.find("\"d\""), std::string::npos);  // no private member
  std::filesystem::remove_all(dir);
}

TEST(Jwks, NamesTheFileThatHoldsNoKey) {
  try {
    jwks_from_pem_files({{"good.pub", jwt::Key::generate(jwt::Alg::RS256).public_pem()}, {"/tmp/bad.pem", "hello"}});
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/tmp/bad.pem: not a PEM"), std::string::npos) << e.what();
  }
}

// ---- AADSTS ----

TEST(Aadsts, FindsTheLastCodeAndExplainsTheTroubleshootingTable) {
  EXPECT_EQ(find_aadsts_code("x AADSTS50166: y, then AADSTS700213: z"), 700213);
  EXPECT_FALSE(find_aadsts_code("AADSTS: nothing"));
  for (int code : {70021, 700211, 700212, 700213, 700016, 90002, 50166, 700027, 700024, 7000215, 7000218}) {
    const AadstsAdvice* a = explain_aadsts(code);
    ASSERT_TRUE(a) << code;
    EXPECT_FALSE(a->meaning.empty());
    EXPECT_FALSE(a->fix.empty());
  }
  EXPECT_FALSE(explain_aadsts(12345));
}

// ---- doctor ----

namespace {
constexpr const char* kMutatedPod = R"({
  "metadata": {"name": "p", "namespace": "ns", "uid": "u1",
               "labels": {"azure.workload.identity/use": "true"},
               "annotations": {"azure.workload.identity/inject-proxy-sidecar": "true"}},
  "spec": {"serviceAccountName": "sa",
    "initContainers": [
      {"name": "azwi-proxy-init", "image": "i"},
      {"name": "azwi-proxy", "image": "p", "args": ["--proxy-port=8000"], "restartPolicy": "Always",
       "env": [{"name": "AZURE_FEDERATED_TOKEN_FILE", "value": "/f"}]}],
    "containers": [{"name": "app", "image": "a", "env": [{"name": "AZURE_CLIENT_ID", "value": "c"},
                                                          {"name": "AZURE_FEDERATED_TOKEN_FILE", "value": "/f"}]}],
    "volumes": [{"name": "azure-identity-token", "projected": {"sources": [
      {"serviceAccountToken": {"path": "azure-identity-token", "audience": "api://AzureADTokenExchange",
                               "expirationSeconds": 3600}}]}}]},
  "status": {"phase": "Running",
    "initContainerStatuses": [
      {"name": "azwi-proxy-init", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0}}},
      {"name": "azwi-proxy", "ready": true, "restartCount": 0, "state": {"running": {}}}],
    "containerStatuses": [{"name": "app", "ready": true, "state": {"running": {}}}]}})";

PodFacts healthy() {
  PodFacts f;
  f.ns = "ns";
  f.name = "p";
  f.pod.object = obj(kMutatedPod);
  f.service_account.object = obj(R"({"metadata":{"name":"sa","annotations":{"azure.workload.identity/client-id":"c"}}})");
  f.webhook_config.object = obj("{}");
  f.token_claims = obj(R"({"iss":"https://issuer","sub":"system:serviceaccount:ns:sa","aud":["api://AzureADTokenExchange"]})");
  f.sidecar_log = R"({"level":"info","msg":"starting the proxy server"}
{"level":"info","msg":"successfully acquired token","clientID":"c"}
)";
  return f;
}

const Check& check(const Report& r, std::string_view name) {
  static const Check none{"<none>", Status::info, "", {}, ""};
  const Check* c = r.find(name);
  return c ? *c : none;
}
}  // namespace

TEST(Doctor, AHealthyPodPassesEveryCheckWithItsModeAndClaims) {
  Report r = diagnose(healthy());
  EXPECT_FALSE(r.has_failure()) << render_text(r, false);
  EXPECT_EQ(check(r, "proxy").summary, "azwi-proxy injected, mode init-container");
  EXPECT_EQ(check(r, "token").details[1], (std::pair<std::string, std::string>{"sub", "system:serviceaccount:ns:sa"}));
  EXPECT_EQ(check(r, "sidecar").summary, "ready (running); its last token request succeeded");
  EXPECT_EQ(check(r, "federated-credential").status, Status::skip);
}

TEST(Doctor, NamesEachFailureOfTheTroubleshootingDoc) {
  struct Case {
    const char* what;
    std::function<void(PodFacts&)> make;
    const char* check;
    Status status;
    const char* words;
  };
  auto relabel = [](const char* value) {
    return [value](PodFacts& f) {
      auto& labels = f.pod.object->at("metadata").as_object()["labels"].as_object();
      if (value) labels["azure.workload.identity/use"] = value;
      else labels.erase("azure.workload.identity/use");
    };
  };
  auto unmutated = [](PodFacts& f) {
    auto& spec = f.pod.object->at("spec").as_object();
    spec.erase("volumes");
    spec.erase("initContainers");
    spec["containers"].as_array()[0].as_object().erase("env");
  };
  std::vector<Case> cases{
      {"pod missing", [](PodFacts& f) { f.pod = Read{std::nullopt, true, ""}; }, "pod", Status::fail,
       "pod ns/p not found"},
      {"label missing", relabel(nullptr), "label", Status::fail, "azure.workload.identity/use is missing"},
      {"label not the string true", relabel("True"), "label", Status::fail, "is \"True\", not \"true\""},
      {"service account missing", [](PodFacts& f) { f.service_account = Read{std::nullopt, true, ""}; },
       "service-account", Status::fail, "service account \"sa\" not found in namespace ns"},
      {"no client-id annotation",
       [](PodFacts& f) {
         f.service_account.object = obj(R"({"metadata":{"name":"sa"}})");
         f.pod.object->at("spec").at("containers").as_array()[0].as_object()["env"].as_array().erase(
             f.pod.object->at("spec").at("containers").as_array()[0].as_object()["env"].as_array().begin());
       },
       "service-account", Status::fail, "has no azure.workload.identity/client-id annotation"},
      {"labelled but created before the label", unmutated, "webhook", Status::fail, "created before the label"},
      {"no webhook installed",
       [&](PodFacts& f) {
         unmutated(f);
         f.webhook_config = Read{std::nullopt, true, ""};
       },
       "webhook", Status::fail, "no MutatingWebhookConfiguration"},
      {"no sidecar annotation",
       [](PodFacts& f) {
         f.pod.object->at("metadata").as_object()["annotations"].as_object().clear();
         auto& inits = f.pod.object->at("spec").as_object()["initContainers"].as_array();
         inits.clear();
       },
       "proxy", Status::info, "lacks the annotation azure.workload.identity/inject-proxy-sidecar"},
      {"proxy-init without NET_ADMIN",
       [](PodFacts& f) {
         auto& st = f.pod.object->at("status").as_object()["initContainerStatuses"].as_array()[0].as_object();
         st["state"] = obj(R"({"terminated":{"exitCode":3,"reason":"Error"}})");
         f.init_log = R"({"level":"error","msg":"the NET_ADMIN capability is missing, so the iptables rules cannot be changed"})";
       },
       "proxy-init", Status::fail, "azwi-proxy-init failed (exit 3)"},
      {"sidecar not ready",
       [](PodFacts& f) {
         auto& st = f.pod.object->at("status").as_object()["initContainerStatuses"].as_array()[1].as_object();
         st["ready"] = false;
         st["state"] = obj(R"({"waiting":{"reason":"CrashLoopBackOff"}})");
       },
       "sidecar", Status::fail, "not ready (waiting: CrashLoopBackOff)"},
      {"AADSTS700213",
       [](PodFacts& f) {
         f.sidecar_log += R"({"level":"error","msg":"failed to acquire token","reason":"AADSTS700213: No matching federated identity record found for presented assertion subject"})";
       },
       "entra", Status::fail, "Entra ID answered AADSTS700213: no credential with that issuer has the token's subject"},
      {"ca configmap missing",
       [](PodFacts& f) {
         f.events.push_back(obj(R"({"reason":"FailedMount","message":"MountVolume.SetUp failed for volume \"azure-identity-token\" : configmap \"ca\" not found"})"));
       },
       "events", Status::fail, "1 warning event(s) about the pod"},
  };
  for (const auto& c : cases) {
    PodFacts f = healthy();
    c.make(f);
    Report r = diagnose(f);
    const Check& got = check(r, c.check);
    EXPECT_EQ(got.status, c.status) << c.what << "\n" << render_text(r, false);
    EXPECT_NE(got.summary.find(c.words), std::string::npos) << c.what << ": " << got.summary;
  }
}

TEST(Doctor, AnEarlierFailureDoesNotCountAfterALaterSuccess) {
  PodFacts f = healthy();
  f.sidecar_log = R"({"level":"error","msg":"failed to acquire token","reason":"AADSTS700213: no"}
{"level":"info","msg":"successfully acquired token"}
)";
  Report r = diagnose(f);
  EXPECT_FALSE(r.find("entra"));
  EXPECT_EQ(check(r, "sidecar").status, Status::ok);
}

TEST(Doctor, ComparesTheTokenWithTheIdentitysCredentialsInEntrasOrder) {
  auto with = [](std::vector<FederatedCredential> creds) {
    PodFacts f = healthy();
    f.credentials = std::move(creds);
    f.identity = "id";
    return check(diagnose(f), "federated-credential");
  };
  std::vector<std::string> aud{"api://AzureADTokenExchange"};
  EXPECT_EQ(with({{"fc", "https://issuer", "system:serviceaccount:ns:sa", aud}}).status, Status::ok);
  EXPECT_NE(with({{"fc", "https://issuer/", "system:serviceaccount:ns:sa", aud}}).summary.find("AADSTS700211"),
            std::string::npos);  // the trailing slash matters
  EXPECT_NE(with({{"fc", "https://issuer", "system:serviceaccount:ns:other", aud}}).summary.find("AADSTS700213"),
            std::string::npos);
  EXPECT_NE(with({{"fc", "https://issuer", "system:serviceaccount:ns:sa", {"api://other"}}}).summary.find("AADSTS700212"),
            std::string::npos);
  PodFacts f = healthy();
  f.credentials_error = "HTTP 403";
  EXPECT_EQ(check(diagnose(f), "federated-credential").status, Status::warn);
}

// ---- podidentity ----

namespace {
DetectInputs pod_identity_world() {
  DetectInputs in;
  in.ns = "ns";
  in.issuer = "https://issuer/";
  in.identities = {obj(R"({"metadata":{"name":"mi"},"spec":{"type":0,"clientID":"c1","resourceID":"/r/mi"}})"),
                   obj(R"({"metadata":{"name":"sp"},"spec":{"type":1,"clientID":"c2"}})")};
  in.bindings = {obj(R"({"metadata":{"name":"b1"},"spec":{"azureIdentity":"mi","selector":"web"}})"),
                 obj(R"({"metadata":{"name":"b2"},"spec":{"azureIdentity":"sp","selector":"old"}})")};
  in.exceptions = {obj(R"({"metadata":{"name":"ex"},"spec":{"podLabels":{"role":"agent"}}})")};
  auto pod = [](const char* name, const char* sel, const char* owner_kind, const char* owner, const char* extra = "") {
    return obj(std::string(R"({"metadata":{"name":")") + name + R"(","labels":{"aadpodidbinding":")" + sel + "\"" +
               extra + R"(},"ownerReferences":[{"kind":")" + owner_kind + R"(","name":")" + owner +
               R"(","controller":true}]},"spec":{}})");
  };
  in.pods = {pod("web-1", "web", "ReplicaSet", "web-5d"), pod("web-2", "web", "ReplicaSet", "web-5d"),
             pod("nightly-1", "web", "Job", "nightly-28"), pod("old-1", "old", "StatefulSet", "old"),
             pod("agent", "web", "DaemonSet", "agent", R"(,"role":"agent")")};
  in.owners["ReplicaSet/web-5d"] = obj(R"({"metadata":{"name":"web-5d","ownerReferences":[{"kind":"Deployment","name":"web","controller":true}]}})");
  in.owners["Job/nightly-28"] = obj(R"({"metadata":{"name":"nightly-28","ownerReferences":[{"kind":"CronJob","name":"nightly","controller":true}]}})");
  return in;
}

const PlannedFile* file(const DetectPlan& p, std::string_view path) {
  for (const auto& f : p.files)
    if (f.path == path) return &f;
  return nullptr;
}
}  // namespace

TEST(PodIdentity, PlansOneMovePerOwnerAndReportsServicePrincipalsAndExceptions) {
  DetectPlan plan = plan_migration(pod_identity_world(), DetectOptions{8123, 7200, "t1"});
  EXPECT_EQ(check(plan.report, "deployment/web").status, Status::ok);
  EXPECT_EQ(check(plan.report, "deployment/web").details[0].second, "web-1, web-2");
  EXPECT_EQ(check(plan.report, "cronjob/nightly").status, Status::ok);
  EXPECT_EQ(check(plan.report, "statefulset/old").status, Status::warn);
  EXPECT_NE(check(plan.report, "statefulset/old").summary.find("different move"), std::string::npos);
  EXPECT_EQ(check(plan.report, "pod/agent").status, Status::info);
  EXPECT_FALSE(file(plan, "statefulset-old/serviceaccount.yaml"));

  const PlannedFile* sa = file(plan, "deployment-web/serviceaccount.yaml");
  ASSERT_TRUE(sa);
  EXPECT_EQ(sa->content,
            "apiVersion: \"v1\"\n"
            "kind: \"ServiceAccount\"\n"
            "metadata:\n"
            "  name: \"web\"\n"
            "  namespace: \"ns\"\n"
            "  annotations:\n"
            "    azure.workload.identity/client-id: \"c1\"\n"
            "    azure.workload.identity/tenant-id: \"t1\"\n"
            "    azure.workload.identity/service-account-token-expiration: \"7200\"\n"
            "  labels:\n"
            "    azure.workload.identity/use: \"true\"\n");
  const PlannedFile* cron = file(plan, "cronjob-nightly/cronjob.patch.yaml");
  ASSERT_TRUE(cron);
  EXPECT_NE(cron->content.find("spec:\n  jobTemplate:\n    spec:\n      template:\n        metadata:\n"), std::string::npos)
      << cron->content;
  EXPECT_NE(cron->content.find("azure.workload.identity/proxy-sidecar-port: \"8123\""), std::string::npos);
  auto fic = json::parse(file(plan, "deployment-web/federated-credential.json")->content);
  EXPECT_EQ(fic.at("identity").as_string(), "/r/mi");
  EXPECT_EQ(fic.at("properties").at("subject").as_string(), "system:serviceaccount:ns:web");
  EXPECT_EQ(fic.at("properties").at("issuer").as_string(), "https://issuer/");
}

TEST(PodIdentity, YamlOfListsAndEmptyValues) {
  EXPECT_EQ(to_yaml(json::parse(R"({"a":[{"b":"1","c":2},"x"],"e":{},"f":[],"g":true})")),
            "a:\n- b: \"1\"\n  c: 2\n- \"x\"\ne: {}\nf: []\ng: true\n");
}

// ---- ARM client ----

namespace {
class ScriptedTransport : public identity::HttpTransport {
 public:
  std::deque<http::ClientResult> answers;
  std::vector<http::ClientRequest> seen;
  http::ClientResult perform(const http::ClientRequest& r) override {
    seen.push_back(r);
    if (answers.empty()) return http::ClientResult{http::ClientError{http::ClientError::Kind::connect, "none"}, {}};
    auto a = answers.front();
    answers.pop_front();
    return a;
  }
};
http::ClientResult answer(long status, std::string body = "{}") {
  http::ClientResult r;
  r.response.status = status;
  r.response.body = std::move(body);
  return r;
}
class FixedCredential : public ArmCredential {
 public:
  std::variant<std::string, std::string> token() override { return std::variant<std::string, std::string>(std::in_place_index<0>, "tok"); }
  std::string describe() const override { return "fixed"; }
};
}  // namespace

TEST(ArmClient, RetriesWithBackoffWhileArmHasNotCaughtUpAndStopsOnARealError) {
  ScriptedTransport t;
  ManualClock clock;
  identity::RetryPolicy retry{5, std::chrono::milliseconds(1000), 2.0, std::chrono::milliseconds(8000),
                              std::chrono::milliseconds(60000)};
  ArmClient arm("https://arm.example", std::make_unique<FixedCredential>(), t, clock, retry);
  t.answers = {answer(404, R"({"error":{"code":"ResourceNotFound","message":"not yet"}})"), answer(429), answer(201)};
  FederatedCredential fc{"ns-sa", "https://issuer", "system:serviceaccount:ns:sa", {"api://AzureADTokenExchange"}};
  EXPECT_EQ(arm.put_federated_credential("/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/"
                                         "userAssignedIdentities/id", fc),
            "");
  EXPECT_EQ(arm.last_attempts(), 3);
  EXPECT_EQ(clock.total_slept(), std::chrono::seconds(3));  // 1 s, then 2 s
  ASSERT_EQ(t.seen.size(), 3u);
  EXPECT_EQ(t.seen[0].method, "PUT");
  EXPECT_EQ(t.seen[0].url, "https://arm.example/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/"
                           "userAssignedIdentities/id/federatedIdentityCredentials/ns-sa?api-version=2023-01-31");
  EXPECT_EQ(json::parse(t.seen[0].body).at("properties").at("audiences").as_array().size(), 1u);
  EXPECT_EQ(t.seen[0].headers[0], (std::pair<std::string, std::string>{"Authorization", "Bearer tok"}));

  t.answers = {answer(400, R"({"error":{"code":"BadRequest","message":"The issuer must be an https URL."}})")};
  EXPECT_EQ(arm.put_federated_credential("/x", fc),
            "PUT /x/federatedIdentityCredentials/ns-sa: HTTP 400 BadRequest: The issuer must be an https URL.");
  EXPECT_EQ(arm.last_attempts(), 1);
  // Deleting what is not there is not an error; listing reads ARM's value array.
  t.answers = {answer(404)};
  EXPECT_EQ(arm.delete_federated_credential("/x", "gone"), "");
  t.answers = {answer(200, R"({"value":[{"name":"a","properties":{"issuer":"i","subject":"s","audiences":["x"]}}]})")};
  auto listed = arm.list_federated_credentials("/x");
  ASSERT_EQ(listed.credentials.size(), 1u);
  EXPECT_EQ(listed.credentials[0].subject, "s");
}

TEST(Propagation, RetriesWhileEntraDoesNotUseTheCredentialYetAndStopsOnOtherAnswers) {
  ScriptedTransport t;
  ManualClock clock;
  auto rejected = [](int code) {
    return answer(401, R"({"error":"invalid_client","error_description":"AADSTS)" + std::to_string(code) +
                           R"(: No matching federated identity record found.\r\nTrace ID: x"})");
  };
  t.answers = {rejected(700211), rejected(700213), answer(200, R"({"access_token":"a","expires_in":3600})")};
  ExchangeTarget target{"https://login.example/", "t1", "c1", "https://management.azure.com//.default"};
  auto r = await_federation(t, clock, propagation_policy(), target, "assertion");
  EXPECT_TRUE(r.accepted);
  EXPECT_EQ(r.attempts, 3);
  EXPECT_EQ(clock.total_slept(), std::chrono::seconds(3));
  EXPECT_EQ(t.seen[0].url, "https://login.example/t1/oauth2/v2.0/token");
  EXPECT_NE(t.seen[0].body.find("client_assertion=assertion"), std::string::npos);

  t.answers = {rejected(700016)};
  r = await_federation(t, clock, propagation_policy(), target, "assertion");
  EXPECT_FALSE(r.accepted);
  EXPECT_EQ(r.attempts, 1);
  EXPECT_EQ(r.error_code, 700016);
  EXPECT_EQ(r.error, "AADSTS700016: No matching federated identity record found.");

  // Bounded: a credential that never propagates ends the wait at the policy's deadline.
  for (int i = 0; i < 30; ++i) t.answers.push_back(rejected(700213));
  ManualClock later;
  r = await_federation(t, later, propagation_policy(), target, "assertion");
  EXPECT_FALSE(r.accepted);
  EXPECT_LE(later.total_slept(), std::chrono::seconds(120));
  EXPECT_LT(r.attempts, 20);
}
