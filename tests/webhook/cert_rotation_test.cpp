// Certificate rotation: the decision (a table), the rotator against the stand-in Kubernetes API server over real
// HTTPS (Secrets and MutatingWebhookConfigurations, resourceVersion conflicts, Forbidden, several replicas, renewal
// on a simulated clock), and the real azwi-webhook binary: replicas that provision themselves and then answer an
// admission over TLS verified with the caBundle they wrote. The certificates themselves are tested in tests/certs.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <boost/json.hpp>
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "common/clock.hpp"
#include "http/tls.hpp"
#include "kube/client.hpp"
#include "kube/cluster_config.hpp"
#include "kube/support.hpp"
#include "support/curl_client.hpp"
#include "support/openssl_cli.hpp"
#include "webhook/cert_rotation.hpp"

using namespace azwi;
using namespace azwi::testing;
using namespace std::chrono;
namespace json = boost::json;
namespace wh = azwi::webhook;

namespace {

const std::string kNs(wh::kDefaultNamespace), kService(wh::kDefaultServiceName),
    kSecret(wh::kDefaultCertSecretName), kConfig(wh::kDefaultWebhookConfigName);
const std::string kServiceHost = kService + "." + kNs + ".svc";
const std::string kSecretPath = "/api/v1/namespaces/" + kNs + "/secrets/" + kSecret;
const std::string kConfigPath = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/" + kConfig;

std::string b64(const std::string& s) {
  std::string out(4 * ((s.size() + 2) / 3), '\0');
  out.resize(static_cast<std::size_t>(EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                                      reinterpret_cast<const unsigned char*>(s.data()),
                                                      static_cast<int>(s.size()))));
  return out;
}

std::string unb64(const std::string& s) {
  std::string out(s.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
  std::size_t pad = s.ends_with("==") ? 2 : s.ends_with("=") ? 1 : 0;
  out.resize(n < 0 ? 0 : static_cast<std::size_t>(n) - pad);
  return out;
}

const auto kDns = certs::serving_dns_names(kService, kNs);
const certs::PkiProfile kLife;

// ---------------------------------------------------------------- the decision

TEST(SecretDecision, FollowsFromWhatWasRead) {
  certs::PkiCheck usable{true, false, "", {}, {}};
  certs::PkiCheck cert_due{false, false, "the serving certificate expires at 2027-01-01T00:00:00Z (renewal due)"};
  certs::PkiCheck ca_due{false, true, "the CA expires at 2030-01-01T00:00:00Z (renewal due)"};
  certs::PkiCheck garbage{false, true, "no CA certificate"};
  certs::PkiCheck wrong_name{false, false, "the serving certificate does not name svc.ns.svc"};
  struct Row {
    const char* what;
    wh::SecretState state;
    wh::SecretDecision want;
  } rows[] = {
      {"no Secret", {false, {}}, {wh::SecretAction::create, true, "no certificate secret yet"}},
      {"no Secret, whatever the check said", {false, usable}, {wh::SecretAction::create, true, "no certificate secret yet"}},
      {"a servable pair", {true, usable}, {wh::SecretAction::adopt, false, ""}},
      {"the certificate is due", {true, cert_due}, {wh::SecretAction::renew, false, cert_due.reason}},
      {"the certificate names another service", {true, wrong_name}, {wh::SecretAction::renew, false, wrong_name.reason}},
      {"the CA is due", {true, ca_due}, {wh::SecretAction::renew, true, ca_due.reason}},
      {"the Secret holds no CA", {true, garbage}, {wh::SecretAction::renew, true, garbage.reason}},
  };
  for (const auto& row : rows) EXPECT_EQ(wh::decide_secret(row.state), row.want) << row.what;
}

// What the process writes to stderr (its log) while alive.
class StderrCapture {
 public:
  explicit StderrCapture(const std::string& path) : path_(path) {
    std::fflush(stderr);
    saved_ = ::dup(2);
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, 2);
    ::close(fd);
  }
  ~StderrCapture() { restore(); }
  std::string text() {
    restore();
    return read_file(path_);
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
  }
  std::string path_;
  int saved_ = -1;
};

// ---------------------------------------------------------------- the rotator against the stand-in API server

// The MutatingWebhookConfiguration of the generated manifests, as JSON (so the test uses the real object).
std::string manifest_webhook_configuration() {
  auto r = sh("/usr/bin/python3 -c \"import json,yaml,sys; print(json.dumps([d for d in yaml.safe_load_all("
              "open(sys.argv[1])) if d and d['kind']=='MutatingWebhookConfiguration'][0]))\" " DEPLOY_DIR
              "/manifests/azwi-webhook.yaml");
  EXPECT_EQ(r.code, 0) << r.out;
  return r.out;
}

class RotationOnStandInApiServer : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = make_temp_dir("azwi-rotation");
    make_ca(dir);
    make_cert(dir, "server", "apiserver");
    api = std::make_unique<FakeApiServer>(dir, std::vector<std::string>{"--token", "api-token"});
    kube::ClusterConfig c;
    c.server = api->url();
    c.ca_file = dir + "/ca.crt";
    c.token = "api-token";
    cluster = c;
    client = std::make_unique<kube::ApiClient>(c);
    http::ClientOptions o;
    o.ca_file = dir + "/ca.crt";
    http = std::make_unique<test::CurlClient>(o);
    auto created = call("POST", "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
                        manifest_webhook_configuration());
    ASSERT_EQ(created.status, 201) << created.body;
  }
  void TearDown() override { std::filesystem::remove_all(dir); }

  http::ClientResponse call(const std::string& method, const std::string& path, const std::string& body = {},
                            const std::string& type = "application/json") {
    http::ClientRequest req;
    req.method = method;
    req.url = api->url() + path;
    req.headers = {{"Authorization", "Bearer api-token"}, {"Content-Type", type}};
    req.body = body;
    auto r = http->perform(req);
    EXPECT_FALSE(r.error) << r.error->message;
    return r.response;
  }
  json::object get_json(const std::string& path) {
    auto r = call("GET", path);
    EXPECT_EQ(r.status, 200) << path << ": " << r.body;
    return r.status == 200 ? json::parse(r.body).as_object() : json::object{};
  }
  long stat(const std::string& key) {
    auto s = get_json("/__test__/stats");
    return s.contains(key) ? s.at(key).as_int64() : 0;
  }
  certs::Pki secret_pki() {
    auto data = get_json(kSecretPath)["data"].as_object();
    auto v = [&](const char* k) { return unb64(std::string(data.at(k).as_string())); };
    return {v("ca.crt"), v("ca.key"), v("tls.crt"), v("tls.key")};
  }
  std::vector<std::string> ca_bundles() {
    std::vector<std::string> out;
    auto config = get_json(kConfigPath);
    for (auto& w : config["webhooks"].as_array()) {
      auto* b = w.as_object().at("clientConfig").as_object().if_contains("caBundle");
      out.push_back(b ? unb64(std::string(b->as_string())) : "");
    }
    return out;
  }
  wh::CertRotationOptions options(const std::string& cert_dir) {
    wh::CertRotationOptions o;
    o.cert_dir = cert_dir;
    o.min_backoff = milliseconds(20);
    o.max_backoff = milliseconds(200);
    o.check_interval = milliseconds(200);
    return o;
  }

  std::string dir;
  std::unique_ptr<FakeApiServer> api;
  kube::ClusterConfig cluster;
  std::unique_ptr<kube::ApiClient> client;
  std::unique_ptr<test::CurlClient> http;
};

TEST_F(RotationOnStandInApiServer, ProvisionsTheSecretTheCaBundleAndTheCertificateDirectory) {
  SystemClock clock;
  wh::CertRotator rotator(*client, options(dir + "/certs"), clock);
  ASSERT_TRUE(rotator.unready_reason());
  ASSERT_EQ(rotator.reconcile(), "");
  EXPECT_FALSE(rotator.unready_reason());
  auto secret = get_json(kSecretPath);
  EXPECT_EQ(secret["type"], "Opaque");
  auto pki = secret_pki();
  EXPECT_TRUE(certs::check_pki(pki, kDns, system_clock::now()).usable);
  EXPECT_EQ(ca_bundles(), std::vector<std::string>{pki.ca_cert});
  EXPECT_EQ(read_file(dir + "/certs/tls.crt"), pki.cert);
  EXPECT_EQ(read_file(dir + "/certs/tls.key"), pki.key);
  EXPECT_EQ(std::filesystem::status(dir + "/certs/tls.key").permissions(),
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  // Key, certificate and CA are links into one generation that switches as a whole (as in a Secret volume).
  for (const char* name : {"tls.key", "tls.crt", "ca.crt"})
    EXPECT_EQ(std::filesystem::read_symlink(dir + "/certs/" + name), std::filesystem::path("..data") / name);
  EXPECT_TRUE(openssl_verifies(dir, ca_bundles()[0], read_file(dir + "/certs/tls.crt"), kServiceHost,
                               system_clock::now()));
  // A second pass with nothing to do writes nothing.
  long updates = stat("secret_update") + stat("mwc_update");
  ASSERT_EQ(rotator.reconcile(), "");
  EXPECT_EQ(stat("secret_update") + stat("mwc_update"), updates);
  EXPECT_EQ(stat("secret_create"), 1);
}

TEST_F(RotationOnStandInApiServer, ReplicasStartingTogetherAgreeOnOneSecret) {
  SystemClock clock;
  std::vector<std::unique_ptr<wh::CertRotator>> replicas;
  for (int i = 0; i < 3; ++i)
    replicas.push_back(std::make_unique<wh::CertRotator>(*client, options(dir + "/certs" + std::to_string(i)), clock));
  std::vector<std::string> results(3);
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) threads.emplace_back([&, i] { results[i] = replicas[i]->reconcile(); });
  for (auto& t : threads) t.join();
  auto pki = secret_pki();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(results[i], "") << i;
    EXPECT_EQ(read_file(dir + "/certs" + std::to_string(i) + "/tls.crt"), pki.cert) << i;
  }
  EXPECT_EQ(ca_bundles(), std::vector<std::string>{pki.ca_cert});
  EXPECT_GE(stat("secret_create"), 1);
}

TEST_F(RotationOnStandInApiServer, CreateRaceAdoptsTheWinnersSecret) {
  // Another replica's Secret appears between our GET (404) and our POST: simulated by creating it first and
  // checking that a rotator whose POST meets 409 AlreadyExists serves the existing content.
  auto winner = certs::issue_pki(kDns, system_clock::now(), kLife, nullptr);
  json::object secret{{"metadata", {{"name", kSecret}}},
                      {"data",
                       {{"ca.crt", b64(winner.ca_cert)},
                        {"ca.key", b64(winner.ca_key)},
                        {"tls.crt", b64(winner.cert)},
                        {"tls.key", b64(winner.key)}}}};
  ASSERT_EQ(call("POST", "/api/v1/namespaces/" + kNs + "/secrets", json::serialize(secret)).status, 201);
  EXPECT_EQ(call("POST", "/api/v1/namespaces/" + kNs + "/secrets", json::serialize(secret)).status, 409);
  SystemClock clock;
  wh::CertRotator rotator(*client, options(dir + "/certs"), clock);
  ASSERT_EQ(rotator.reconcile(), "");
  EXPECT_EQ(read_file(dir + "/certs/tls.crt"), winner.cert);
  EXPECT_EQ(secret_pki(), winner);
}

TEST_F(RotationOnStandInApiServer, UpdateConflictsAreRetriedFromAFreshRead) {
  ManualClock clock(system_clock::now());
  wh::CertRotator rotator(*client, options(dir + "/certs"), clock);
  ASSERT_EQ(rotator.reconcile(), "");
  auto before = secret_pki();
  clock.advance(days(250));  // renewal of the 1-year certificate is due
  call("POST", "/__test__/conflicts", R"({"secrets": 2, "mutatingwebhookconfigurations": 0})");
  ASSERT_EQ(rotator.reconcile(), "");
  EXPECT_EQ(stat("secret_conflict"), 2);
  auto after = secret_pki();
  EXPECT_NE(after.cert, before.cert);
  EXPECT_EQ(after.ca_cert, before.ca_cert);
  EXPECT_EQ(read_file(dir + "/certs/tls.crt"), after.cert);
  EXPECT_TRUE(certs::check_pki(after, kDns, clock.now()).usable);
}

TEST_F(RotationOnStandInApiServer, ARenewedPairReachesTheTlsServerTogether) {
  ManualClock clock(system_clock::now());
  wh::CertRotator rotator(*client, options(dir + "/certs"), clock);
  ASSERT_EQ(rotator.reconcile(), "");
  http::ReloadingTlsProvider tls(dir + "/certs/tls.crt", dir + "/certs/tls.key", http::TlsVersion::v1_2,
                                 milliseconds(0));
  auto first = tls.current();
  ASSERT_TRUE(first) << tls.last_error();
  auto generation = std::filesystem::read_symlink(dir + "/certs/..data");
  clock.advance(days(250));
  ASSERT_EQ(rotator.reconcile(), "");
  EXPECT_NE(std::filesystem::read_symlink(dir + "/certs/..data"), generation);
  EXPECT_FALSE(std::filesystem::exists(dir + "/certs/" + generation.string()));  // the old pair is gone
  auto renewed = tls.current();
  ASSERT_TRUE(renewed) << tls.last_error();
  EXPECT_NE(renewed, first);
  EXPECT_EQ(tls.last_error(), "");
  X509* served = SSL_CTX_get0_certificate(renewed->native_handle());
  ASSERT_TRUE(served);
  EXPECT_EQ(certs::cert_fingerprint(secret_pki().cert), [&] {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, served);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string pem(data, static_cast<std::size_t>(n));
    BIO_free(bio);
    return certs::cert_fingerprint(pem);
  }());
}

TEST_F(RotationOnStandInApiServer, CaBundleConflictsAreRetriedAndAWipedBundleIsRestored) {
  SystemClock clock;
  wh::CertRotator rotator(*client, options(dir + "/certs"), clock);
  ASSERT_EQ(rotator.reconcile(), "");
  auto ca = secret_pki().ca_cert;
  // `kubectl replace` of the manifests (or a careless edit) drops the caBundle; merge patch replaces the list.
  auto config = get_json(kConfigPath);
  auto webhooks = config["webhooks"];
  webhooks.as_array()[0].as_object()["clientConfig"].as_object().erase("caBundle");
  auto patched = call("PATCH", kConfigPath, json::serialize(json::object{{"webhooks", webhooks}}),
                      "application/merge-patch+json");
  ASSERT_EQ(patched.status, 200) << patched.body;
  ASSERT_EQ(ca_bundles(), std::vector<std::string>{""});
  call("POST", "/__test__/conflicts", R"({"mutatingwebhookconfigurations": 3})");
  ASSERT_EQ(rotator.reconcile(), "");
  EXPECT_EQ(stat("mwc_conflict"), 3);
  EXPECT_EQ(ca_bundles(), std::vector<std::string>{ca});
}

TEST_F(RotationOnStandInApiServer, ConflictsAreLoggedAndNeverOverwriteAnotherWritersChange) {
  ManualClock clock(system_clock::now());
  wh::CertRotator rotator(*client, options(dir + "/certs"), clock);
  ASSERT_EQ(rotator.reconcile(), "");
  clock.advance(days(250));
  call("POST", "/__test__/conflicts", R"({"secrets": 1})");
  StderrCapture log(dir + "/stderr.log");
  ASSERT_EQ(rotator.reconcile(), "");
  auto text = log.text();
  EXPECT_NE(text.find("the certificate secret changed meanwhile (409 Conflict); reading it again"), std::string::npos)
      << text;
  // Each refused write was followed by a fresh read: one update was refused, one landed.
  EXPECT_EQ(stat("secret_conflict"), 1);
  EXPECT_EQ(stat("secret_get"), 3);
  EXPECT_TRUE(certs::check_pki(secret_pki(), kDns, clock.now()).usable);
  EXPECT_EQ(text.find("PRIVATE KEY"), std::string::npos);
}

TEST_F(RotationOnStandInApiServer, ForbiddenCallsAreReportedAsMissingGrants) {
  SystemClock clock;
  wh::CertRotator rotator(*client, options(dir + "/certs"), clock);
  call("POST", "/__test__/forbidden", R"({"secrets": ["create"]})");
  auto error = rotator.reconcile();
  EXPECT_NE(error.find("cannot create Secret " + kNs + "/" + kSecret + ": HTTP 403: "), std::string::npos) << error;
  EXPECT_NE(error.find("not granted create"), std::string::npos) << error;
  ASSERT_TRUE(rotator.unready_reason());
  EXPECT_NE(rotator.unready_reason()->find("HTTP 403"), std::string::npos);
  call("POST", "/__test__/forbidden", R"({"secrets": [], "mutatingwebhookconfigurations": ["update"]})");
  error = rotator.reconcile();
  EXPECT_NE(error.find("cannot update the caBundle of MutatingWebhookConfiguration " + kConfig + ": HTTP 403"),
            std::string::npos)
      << error;
  EXPECT_FALSE(std::filesystem::exists(dir + "/certs/tls.crt")) << "no certificate before the API server trusts it";
  call("POST", "/__test__/forbidden", R"({"mutatingwebhookconfigurations": []})");
  EXPECT_EQ(rotator.reconcile(), "");
  EXPECT_EQ(stat("secret_forbidden"), 1);
  EXPECT_EQ(stat("mwc_forbidden"), 1);
  EXPECT_EQ(stat("secret_create"), 1);
}

TEST_F(RotationOnStandInApiServer, EndlessConflictsFailTheFirstPassAndKeepTheWebhookUnready) {
  SystemClock clock;
  auto o = options(dir + "/certs");
  o.conflict_retries = 2;
  wh::CertRotator rotator(*client, o, clock);
  // The Secret exists but is unusable, so every pass must write it, and every write conflicts.
  json::object secret{{"metadata", {{"name", kSecret}}}, {"data", {{"tls.crt", b64("not a certificate")}}}};
  ASSERT_EQ(call("POST", "/api/v1/namespaces/" + kNs + "/secrets", json::serialize(secret)).status, 201);
  call("POST", "/__test__/conflicts", R"({"secrets": 100})");
  auto error = rotator.reconcile();
  EXPECT_NE(error.find("kept changing"), std::string::npos) << error;
  ASSERT_TRUE(rotator.unready_reason());
  EXPECT_NE(rotator.unready_reason()->find("kept changing"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir + "/certs/tls.crt"));
  call("POST", "/__test__/conflicts", R"({"secrets": 0})");
  EXPECT_EQ(rotator.reconcile(), "");
  EXPECT_FALSE(rotator.unready_reason());
}

TEST_F(RotationOnStandInApiServer, CaRenewalPublishesBothCasBeforeTheNewCertificateIsServed) {
  ManualClock clock(system_clock::now());
  auto o = options(dir + "/certs");
  o.pki = {hours(24 * 90), hours(24 * 90)};
  wh::CertRotator rotator(*client, o, clock);
  ASSERT_EQ(rotator.reconcile(), "");
  auto first = secret_pki();
  clock.advance(days(61));
  ASSERT_EQ(rotator.reconcile(), "");
  auto renewed = secret_pki();
  EXPECT_NE(renewed.ca_key, first.ca_key);
  auto bundle = ca_bundles()[0];
  EXPECT_EQ(bundle, renewed.ca_cert);
  EXPECT_EQ(count_certs(bundle), 2);
  EXPECT_TRUE(openssl_verifies(dir, bundle, first.cert, kServiceHost, clock.now()));
  EXPECT_TRUE(openssl_verifies(dir, bundle, read_file(dir + "/certs/tls.crt"), kServiceHost, clock.now()));
}

TEST_F(RotationOnStandInApiServer, ReplicaPicksUpAnotherReplicasRenewal) {
  ManualClock clock(system_clock::now());
  wh::CertRotator a(*client, options(dir + "/a"), clock), b(*client, options(dir + "/b"), clock);
  ASSERT_EQ(a.reconcile(), "");
  ASSERT_EQ(b.reconcile(), "");
  clock.advance(days(250));
  ASSERT_EQ(a.reconcile(), "");  // a renews
  long updates = stat("secret_update");
  ASSERT_EQ(b.reconcile(), "");  // b adopts a's renewal instead of writing its own
  EXPECT_EQ(stat("secret_update"), updates);
  EXPECT_EQ(read_file(dir + "/a/tls.crt"), read_file(dir + "/b/tls.crt"));
}

TEST_F(RotationOnStandInApiServer, MissingWebhookConfigurationIsReported) {
  ASSERT_EQ(call("DELETE", kConfigPath).status, 200);
  SystemClock clock;
  wh::CertRotator rotator(*client, options(dir + "/certs"), clock);
  auto error = rotator.reconcile();
  EXPECT_NE(error.find("MutatingWebhookConfiguration " + kConfig), std::string::npos) << error;
  EXPECT_NE(error.find("404"), std::string::npos) << error;
  ASSERT_TRUE(rotator.unready_reason());
  EXPECT_NE(rotator.unready_reason()->find(kConfig), std::string::npos);
}

TEST_F(RotationOnStandInApiServer, ApiServerOutageAfterProvisioningKeepsServing) {
  SystemClock clock;
  wh::CertRotator rotator(*client, options(dir + "/certs"), clock);
  ASSERT_EQ(rotator.reconcile(), "");
  api->process().stop();
  auto error = rotator.reconcile();
  EXPECT_NE(error.find("cannot reach the API server"), std::string::npos) << error;
  EXPECT_FALSE(rotator.unready_reason()) << "a valid certificate keeps the webhook ready";
  EXPECT_TRUE(std::filesystem::exists(dir + "/certs/tls.crt"));
}

TEST_F(RotationOnStandInApiServer, BackgroundThreadRecoversOnceTheConfigurationAppears) {
  auto config = json::serialize(get_json(kConfigPath));
  ASSERT_EQ(call("DELETE", kConfigPath).status, 200);
  SystemClock clock;
  wh::CertRotator rotator(*client, options(dir + "/certs"), clock);
  rotator.start();
  EXPECT_TRUE(eventually([&] { return stat("mwc_get") >= 2; }));  // retried with backoff
  EXPECT_TRUE(rotator.unready_reason());
  auto recreated = json::parse(config).as_object();
  recreated["metadata"].as_object().erase("resourceVersion");
  ASSERT_EQ(call("POST", "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
                 json::serialize(recreated)).status, 201);
  EXPECT_TRUE(eventually([&] { return !rotator.unready_reason(); }));
  rotator.stop();
  EXPECT_EQ(ca_bundles(), std::vector<std::string>{secret_pki().ca_cert});
}

// ---------------------------------------------------------------- the azwi-webhook binary

class WebhookRotationOnStandInApiServer : public RotationOnStandInApiServer {
 protected:
  struct Replica {
    std::unique_ptr<Process> process;
    int webhook_port = 0, health_port = 0;
    std::string cert_dir;
  };
  Replica launch(int n, std::vector<std::string> extra = {}) {
    Replica r;
    r.cert_dir = dir + "/replica" + std::to_string(n);
    r.webhook_port = free_port();
    r.health_port = free_port();
    write_file(dir + "/kubeconfig", kubeconfig_yaml(api->url(), dir + "/ca.crt", "    token: api-token\n"));
    std::vector<std::string> args = {WEBHOOK_BIN, "--kubeconfig", dir + "/kubeconfig", "--webhook-cert-dir",
                                     r.cert_dir, "--webhook-addr", "127.0.0.1:" + std::to_string(r.webhook_port),
                                     "--health-addr", "127.0.0.1:" + std::to_string(r.health_port),
                                     "--metrics-addr", "127.0.0.1:0"};
    for (auto& e : extra) args.push_back(e);
    r.process = std::make_unique<Process>(args, std::map<std::string, std::string>{{"AZURE_TENANT_ID", "tenant"}},
                                          dir + "/webhook" + std::to_string(n) + ".log",
                                          std::vector<std::string>{"KUBECONFIG", "KUBERNETES_SERVICE_HOST",
                                                                   "POD_NAMESPACE"});
    return r;
  }
  Cmd readyz(const Replica& r) {
    return sh("curl -s --max-time 5 -w ' %{http_code}' http://127.0.0.1:" + std::to_string(r.health_port) +
              "/readyz");
  }
};

TEST_F(WebhookRotationOnStandInApiServer, ReplicasProvisionThemselvesAndServeWithTheCaBundle) {
  auto one = launch(1), two = launch(2);
  for (auto* r : {&one, &two})
    ASSERT_TRUE(eventually([&] { return readyz(*r).out.ends_with(" 200"); }, seconds(30)))
        << readyz(*r).out << "\n" << r->process->log();
  auto pki = secret_pki();
  EXPECT_EQ(read_file(one.cert_dir + "/tls.crt"), pki.cert);
  EXPECT_EQ(read_file(two.cert_dir + "/tls.crt"), pki.cert);
  auto bundle = ca_bundles()[0];
  ASSERT_EQ(bundle, pki.ca_cert);
  // The API server's view: the Service name, the path and the caBundle from the webhook configuration.
  auto cc = get_json(kConfigPath)["webhooks"].as_array()[0].as_object()["clientConfig"].as_object();
  auto path = std::string(cc["service"].as_object()["path"].as_string());
  auto host = std::string(cc["service"].as_object()["name"].as_string()) + "." +
              std::string(cc["service"].as_object()["namespace"].as_string()) + ".svc";
  write_file(dir + "/bundle.pem", unb64(std::string(cc["caBundle"].as_string())));
  write_file(dir + "/review.json",
             R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-1",)"
             R"("kind":{"group":"","version":"v1","kind":"Pod"},"namespace":"default","operation":"CREATE",)"
             R"("object":{"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"i"}]}}}})");
  for (auto* r : {&one, &two}) {
    auto port = std::to_string(r->webhook_port);
    auto answer = sh("curl -s --max-time 10 --cacert " + dir + "/bundle.pem --resolve " + host + ":" + port +
                     ":127.0.0.1 -H 'Content-Type: application/json' --data-binary @" + dir + "/review.json https://" +
                     host + ":" + port + path);
    EXPECT_EQ(answer.code, 0) << answer.out;
    EXPECT_NE(answer.out.find(R"("uid":"u-1")"), std::string::npos) << answer.out;
    EXPECT_NE(answer.out.find(R"("allowed":true)"), std::string::npos) << answer.out;
  }
  // Both may have found no Secret and tried to create one; the loser adopted the winner's (same files above).
  EXPECT_GE(stat("secret_create"), 1);
  auto log = one.process->log() + two.process->log();
  EXPECT_EQ(log.find("PRIVATE KEY"), std::string::npos) << "keys must never reach the log";
  EXPECT_EQ(one.process->stop(), 0);
  EXPECT_EQ(two.process->stop(), 0);
}

TEST_F(WebhookRotationOnStandInApiServer, NotReadyUntilTheWebhookConfigurationExists) {
  auto config = json::serialize(get_json(kConfigPath));
  ASSERT_EQ(call("DELETE", kConfigPath).status, 200);
  auto r = launch(1);
  ASSERT_TRUE(eventually([&] { return readyz(r).out.find("MutatingWebhookConfiguration") != std::string::npos; },
                         seconds(20)))
      << readyz(r).out << r.process->log();
  EXPECT_TRUE(readyz(r).out.ends_with(" 503"));
  auto recreated = json::parse(config).as_object();
  recreated["metadata"].as_object().erase("resourceVersion");
  ASSERT_EQ(call("POST", "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
                 json::serialize(recreated)).status, 201);
  // The background pass retries with backoff (at most 30 s).
  EXPECT_TRUE(eventually([&] { return readyz(r).out.ends_with(" 200"); }, seconds(45))) << readyz(r).out;
}

TEST_F(WebhookRotationOnStandInApiServer, DisabledRotationLeavesTheClusterAlone) {
  auto r = launch(1, {"--disable-cert-rotation"});
  ASSERT_TRUE(eventually([&] { return readyz(r).out.find("serving certificate not loaded") != std::string::npos; },
                         seconds(20)))
      << readyz(r).out;
  EXPECT_EQ(call("GET", kSecretPath).status, 404);
  EXPECT_EQ(ca_bundles(), std::vector<std::string>{""});
  EXPECT_FALSE(std::filesystem::exists(r.cert_dir + "/tls.crt"));
}

TEST_F(WebhookRotationOnStandInApiServer, NamesComeFromFlagsAndPodNamespace) {
  auto config = get_json(kConfigPath);
  config["metadata"].as_object()["name"] = "custom-config";
  config["metadata"].as_object().erase("resourceVersion");
  ASSERT_EQ(call("POST", "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
                 json::serialize(config)).status, 201);
  Replica r;
  r.cert_dir = dir + "/custom";
  r.health_port = free_port();
  write_file(dir + "/kubeconfig", kubeconfig_yaml(api->url(), dir + "/ca.crt", "    token: api-token\n"));
  r.process = std::make_unique<Process>(
      std::vector<std::string>{WEBHOOK_BIN, "--kubeconfig", dir + "/kubeconfig", "--webhook-cert-dir", r.cert_dir,
                               "--webhook-addr", "127.0.0.1:0", "--health-addr",
                               "127.0.0.1:" + std::to_string(r.health_port), "--metrics-addr", "127.0.0.1:0",
                               "--cert-secret-name", "custom-secret", "--webhook-service-name", "custom-svc",
                               "--webhook-config-name", "custom-config"},
      std::map<std::string, std::string>{{"AZURE_TENANT_ID", "tenant"}, {"POD_NAMESPACE", "custom-ns"}},
      dir + "/custom.log", std::vector<std::string>{"KUBECONFIG", "KUBERNETES_SERVICE_HOST"});
  ASSERT_TRUE(eventually([&] { return readyz(r).out.ends_with(" 200"); }, seconds(30))) << r.process->log();
  EXPECT_EQ(call("GET", "/api/v1/namespaces/custom-ns/secrets/custom-secret").status, 200);
  EXPECT_EQ(call("GET", kSecretPath).status, 404);
  EXPECT_TRUE(openssl_verifies(dir, read_file(r.cert_dir + "/ca.crt"), read_file(r.cert_dir + "/tls.crt"),
                               "custom-svc.custom-ns.svc", system_clock::now()));
}

}  // namespace
