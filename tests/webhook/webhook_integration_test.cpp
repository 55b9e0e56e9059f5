// azwi-webhook as a real process over real TLS, against the stand-in Kubernetes API server (another real process):
// admissions in both review versions, patches checked by python3-jsonpatch, service accounts created and changed
// after start-up, API server outages, concurrency, TLS version refusal, certificate reload, bad input, start-up errors.
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <arpa/inet.h>
#include <atomic>
#include <tuple>
#include <boost/json.hpp>

#include "../kube/support.hpp"
#include "http/client.hpp"

using namespace azwi;
using namespace azwi::testing;
namespace json = boost::json;

namespace {

std::string base64_decode(const std::string& text) {
  std::string out(text.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return {};
  std::size_t pad = text.ends_with("==") ? 2 : text.ends_with("=") ? 1 : 0;
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

// One TLS handshake with the given highest version; returns the server certificate's CN, or nullopt on failure.
std::optional<std::string> handshake(int port, int max_version) {
  signal(SIGPIPE, SIG_IGN);  // a refused handshake closes the socket under our feet
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_max_proto_version(ctx, max_version);
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::optional<std::string> cn;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) == 1) {
      X509* cert = SSL_get1_peer_certificate(ssl);
      char buf[256] = {0};
      if (cert) X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof buf);
      X509_free(cert);
      cn = buf;
      SSL_shutdown(ssl);
    }
    SSL_free(ssl);
  }
  ERR_clear_error();
  ::close(fd);
  SSL_CTX_free(ctx);
  return cn;
}

std::string review(const std::string& uid, const std::string& pod, const std::string& api_version = "admission.k8s.io/v1",
                   const std::string& operation = "CREATE", const std::string& ns = "ns1") {
  return R"({"apiVersion":")" + api_version + R"(","kind":"AdmissionReview","request":{"uid":")" + uid +
         R"(","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},)"
         R"("namespace":")" + ns + R"(","operation":")" + operation + R"(","dryRun":false,"object":)" + pod + "}}";
}

std::string labelled_pod(const std::string& sa, const std::string& annotations = "{}", const std::string& spec_extra = "") {
  return R"({"metadata":{"generateName":"app-","labels":{"azure.workload.identity/use":"true"},"annotations":)" +
         annotations + R"(},"spec":{"serviceAccountName":")" + sa + R"(",)" + spec_extra +
         R"("containers":[{"name":"app","image":"busybox"}]}})";
}

class WebhookOnStandInApiServer : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = make_temp_dir("azwi-webhook");
    make_ca(dir);
    make_cert(dir, "server", "localhost");
    std::filesystem::create_directory(dir + "/certs");
    make_cert(dir, "webhook", "webhook-one");
    install_webhook_cert("webhook");
    write_file(dir + "/seed.json", R"([
      {"metadata":{"name":"app","namespace":"ns1","annotations":{"azure.workload.identity/client-id":"cid-app",
        "azure.workload.identity/tenant-id":"tenant-app"}}},
      {"metadata":{"name":"plain","namespace":"ns1"}}])");
  }
  void TearDown() override {
    webhook.reset();
    api.reset();
    if (!HasFailure()) std::filesystem::remove_all(dir);
  }
  void install_webhook_cert(const std::string& name) {
    // Written aside and renamed, as the kubelet and cert-manager update mounted secrets.
    std::filesystem::copy_file(dir + "/" + name + ".crt", dir + "/certs/tls.crt.new",
                               std::filesystem::copy_options::overwrite_existing);
    std::filesystem::copy_file(dir + "/" + name + ".key", dir + "/certs/tls.key.new",
                               std::filesystem::copy_options::overwrite_existing);
    std::filesystem::rename(dir + "/certs/tls.key.new", dir + "/certs/tls.key");
    std::filesystem::rename(dir + "/certs/tls.crt.new", dir + "/certs/tls.crt");
  }
  void start_api(std::vector<std::string> extra = {}, int port = 0) {
    std::vector<std::string> args = {"--token", "api-token", "--seed", dir + "/seed.json", "--bookmark-seconds", "0.5"};
    for (auto& e : extra) args.push_back(e);
    api = std::make_unique<FakeApiServer>(dir, args, port);
  }
  void write_kubeconfig(int port) {
    write_file(dir + "/kubeconfig", kubeconfig_yaml("https://127.0.0.1:" + std::to_string(port), dir + "/ca.crt",
                                                    "    token: api-token\n"));
  }
  std::unique_ptr<Process> launch(std::vector<std::string> extra, std::map<std::string, std::string> env = {},
                                  std::vector<std::string> env_removed = {}) {
    // These tests provide the serving certificates themselves (rotation: cert_rotation_test.cpp).
    std::vector<std::string> args = {WEBHOOK_BIN, "--disable-cert-rotation"};
    for (auto& e : extra) args.push_back(e);
    std::map<std::string, std::string> e = {{"AZURE_TENANT_ID", "tenant-default"},
                                            {"PROXY_IMAGE", "registry.test/proxy:1"},
                                            {"PROXY_INIT_IMAGE", "registry.test/proxy-init:1"}};
    for (auto& [k, v] : env) e[k] = v;
    for (const auto& k : env_removed) e.erase(k);
    env_removed.push_back("KUBECONFIG");
    env_removed.push_back("KUBERNETES_SERVICE_HOST");
    return std::make_unique<Process>(args, e, dir + "/webhook-" + std::to_string(launches++) + ".log", env_removed);
  }
  void start_webhook(int api_port, std::vector<std::string> extra = {}, std::map<std::string, std::string> env = {}) {
    write_kubeconfig(api_port);
    std::vector<std::string> args = {"--kubeconfig", dir + "/kubeconfig", "--webhook-cert-dir", dir + "/certs",
                                     "--webhook-addr", "127.0.0.1:0", "--health-addr", "127.0.0.1:0",
                                     "--metrics-addr", "127.0.0.1:0"};
    for (auto& e : extra) args.push_back(e);
    webhook = launch(args, env);
    std::regex re("\"webhook_port\":([0-9]+),\"health_port\":([0-9]+),\"metrics_port\":([0-9]+)");
    std::smatch m;
    ASSERT_TRUE(eventually([&] {
      std::string log = webhook->log();
      if (!std::regex_search(log, m, re)) return false;
      port = std::stoi(m[1]);
      health_port = std::stoi(m[2]);
      metrics_port = std::stoi(m[3]);
      return true;
    })) << webhook->log();
  }
  http::ClientResult plain_get(int p, const std::string& path) {
    http::Client c(http::ClientOptions{});
    http::ClientRequest r;
    r.url = "http://127.0.0.1:" + std::to_string(p) + path;
    return c.perform(r);
  }
  bool ready() {
    auto r = plain_get(health_port, "/readyz");
    return !r.error && r.response.status == 200;
  }
  http::ClientOptions webhook_client_options() {
    http::ClientOptions o;
    o.ca_file = dir + "/ca.crt";
    return o;
  }
  http::ClientResult post(http::Client& client, const std::string& body, const std::string& path = "/mutate-v1-pod",
                          const std::string& type = "application/json", const std::string& method = "POST") {
    http::ClientRequest r;
    r.method = method;
    r.url = "https://localhost:" + std::to_string(port) + path;
    r.body = body;
    r.headers = {{"Content-Type", type}};
    return client.perform(r);
  }
  // POSTs a review and returns its response object (fails the test on a transport error).
  json::object admit(const std::string& body) {
    http::Client client(webhook_client_options());
    auto r = post(client, body);
    EXPECT_FALSE(r.error) << (r.error ? r.error->message : "");
    EXPECT_EQ(r.response.status, 200) << r.response.body;
    json::error_code ec;
    auto v = json::parse(r.response.body, ec);
    if (ec || !v.is_object()) return {};
    return v.as_object();
  }
  json::array patch_of(const json::object& reply) {
    auto* p = reply.at("response").as_object().if_contains("patch");
    if (!p) return {};
    return json::parse(base64_decode(std::string(p->as_string()))).as_array();
  }
  http::ClientResult control(const std::string& method, const std::string& path, const std::string& body = "") {
    http::ClientOptions o;
    o.ca_file = dir + "/ca.crt";
    http::Client client(o);
    http::ClientRequest r;
    r.method = method;
    r.url = api->url() + path;
    r.body = body;
    r.headers = {{"Authorization", "Bearer api-token"}};
    return client.perform(r);
  }
  void put_sa(const std::string& name, const std::string& client_id) {
    auto r = control("POST", "/__test__/serviceaccounts",
                     R"({"metadata":{"name":")" + name +
                         R"(","namespace":"ns1","annotations":{"azure.workload.identity/client-id":")" + client_id + R"("}}})");
    ASSERT_EQ(r.response.status, 201);
  }
  std::int64_t api_gets() {
    return json::parse(control("GET", "/__test__/stats").response.body).at("get").as_int64();
  }
  // The AZURE_CLIENT_ID the webhook injects for a pod running as `sa`, or "" when it denies.
  std::string injected_client_id(const std::string& sa) {
    auto reply = admit(review("probe", labelled_pod(sa)));
    if (!reply.contains("response") || !reply.at("response").at("allowed").as_bool()) return "";
    for (const auto& op : patch_of(reply)) {
      if (op.at("path") != "/spec/containers/0/env") continue;
      for (const auto& e : op.at("value").as_array())
        if (e.at("name") == "AZURE_CLIENT_ID") return std::string(e.at("value").as_string());
    }
    return "";
  }

  std::string dir;
  std::unique_ptr<FakeApiServer> api;
  std::unique_ptr<Process> webhook;
  int port = 0, health_port = 0, metrics_port = 0, launches = 0;
};

// The default (v1.6) layout for the pods below (generateName "app-": SHA-256 of "app- (prefix)", from hashlib).
const char* kEnvApp = R"({"name":"AZURE_CLIENT_ID","value":"cid-app"},{"name":"AZURE_TENANT_ID","value":"tenant-app"},)"
                      R"({"name":"AZURE_FEDERATED_TOKEN_FILE","value":"/var/run/secrets/azure/wi/token/azure-identity-token"},)"
                      R"({"name":"AZURE_AUTHORITY_HOST","value":"https://login.microsoftonline.com/"})";
const char* kMount = R"({"name":"azure-workload-identity-reserved-f8c01cdb5cb39dd9e9600bf4df2bab",)"
                     R"("mountPath":"/var/run/secrets/azure/wi","readOnly":true})";
const char* kVolumeHead = R"({"name":"azure-workload-identity-reserved-f8c01cdb5cb39dd9e9600bf4df2bab","projected":)"
                          R"({"sources":[{"serviceAccountToken":{"path":"token/azure-identity-token",)";
// --token-layout=v1.5.
const char* kMount15 = R"({"name":"azure-identity-token","mountPath":"/var/run/secrets/azure/tokens","readOnly":true})";
const char* kResources = R"("resources":{"requests":{"cpu":"10m","memory":"16Mi"},"limits":{"cpu":"200m","memory":"64Mi"}},)";

std::string expand(std::string s) {
  for (auto [k, v] : {std::pair<std::string, std::string>{"$ENV", kEnvApp}, {"$MOUNT15", kMount15}, {"$MOUNT", kMount},
                      {"$VOLUME_HEAD", kVolumeHead}, {"$RESOURCES", kResources}})
    for (auto at = s.find(k); at != std::string::npos; at = s.find(k, at + v.size())) s.replace(at, k.size(), v);
  return s;
}

TEST_F(WebhookOnStandInApiServer, AdmitsBothReviewVersionsAndPatchesApplyWithAnIndependentImplementation) {
  start_api({"--version", "v1.32.2"});
  start_webhook(api->port());
  ASSERT_TRUE(eventually([this] { return ready(); })) << webhook->log();

  std::string basic = labelled_pod("app");
  auto reply = admit(review("uid-basic", basic));
  EXPECT_EQ(reply.at("apiVersion"), "admission.k8s.io/v1");
  EXPECT_EQ(reply.at("kind"), "AdmissionReview");
  EXPECT_EQ(reply.at("response").at("uid"), "uid-basic");
  EXPECT_EQ(reply.at("response").at("allowed"), true);
  EXPECT_EQ(reply.at("response").at("patchType"), "JSONPatch");
  json::array cases;
  cases.push_back(json::object{
      {"name", "basic"},
      {"original", json::parse(basic)},
      {"patch", patch_of(reply)},
      {"expected", json::parse(expand(
                       R"({"metadata":{"generateName":"app-","labels":{"azure.workload.identity/use":"true"},"annotations":{}},
        "spec":{"serviceAccountName":"app","containers":[{"name":"app","image":"busybox","env":[$ENV],"volumeMounts":[$MOUNT]}],
        "volumes":[$VOLUME_HEAD
        "expirationSeconds":3600,"audience":"api://AzureADTokenExchange"}}]}}]}})"))}});

  std::string proxied = labelled_pod("app", R"({"azure.workload.identity/inject-proxy-sidecar":"true",
      "azure.workload.identity/service-account-token-expiration":"7200"})",
                                     R"("initContainers":[{"name":"migrate","image":"m"}],)");
  reply = admit(review("uid-proxy", proxied, "admission.k8s.io/v1beta1"));
  EXPECT_EQ(reply.at("apiVersion"), "admission.k8s.io/v1beta1");
  EXPECT_EQ(reply.at("response").at("uid"), "uid-proxy");
  cases.push_back(json::object{
      {"name", "native-sidecar"},
      {"original", json::parse(proxied)},
      {"patch", patch_of(reply)},
      {"expected", json::parse(expand(R"({"metadata":{"generateName":"app-","labels":{"azure.workload.identity/use":"true"},
        "annotations":{"azure.workload.identity/inject-proxy-sidecar":"true","azure.workload.identity/service-account-token-expiration":"7200",
          "azure.workload.identity/proxy-sidecar-mode":"init-container"}},
        "spec":{"serviceAccountName":"app","initContainers":[
          {"name":"azwi-proxy-init","image":"registry.test/proxy-init:1","imagePullPolicy":"IfNotPresent","env":[{"name":"PROXY_PORT","value":"8000"}],
           $RESOURCES"securityContext":{"capabilities":{"add":["NET_ADMIN"],"drop":["ALL"]},"privileged":true,
           "readOnlyRootFilesystem":true,"runAsNonRoot":false,"runAsUser":0}},
          {"name":"azwi-proxy","image":"registry.test/proxy:1","imagePullPolicy":"IfNotPresent","args":["--proxy-port=8000","--log-level=info"],
           "ports":[{"containerPort":8000}],"lifecycle":{"postStart":{"exec":{"command":["/usr/local/bin/azwi-proxy","--probe","--proxy-port=8000"]}}},
           $RESOURCES"securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]},"privileged":false,"readOnlyRootFilesystem":true,
           "runAsNonRoot":true,"runAsUser":1501},"restartPolicy":"Always","env":[$ENV],"volumeMounts":[$MOUNT]},
          {"name":"migrate","image":"m","env":[$ENV],"volumeMounts":[$MOUNT]}],
        "containers":[{"name":"app","image":"busybox","env":[$ENV],"volumeMounts":[$MOUNT]}],
        "volumes":[$VOLUME_HEAD
        "expirationSeconds":7200,"audience":"api://AzureADTokenExchange"}}]}}]}})"))}});
  write_file(dir + "/cases.json", json::serialize(cases));
  std::string cmd = std::string(DEBIAN_PYTHON) + " " + APPLY_SCRIPT + " " + dir + "/cases.json > " + dir +
                    "/apply.out 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << read_file(dir + "/apply.out");
  EXPECT_NE(read_file(dir + "/apply.out").find("2 passed, 0 failed"), std::string::npos);
  EXPECT_EQ(api_gets(), 0) << "cached service accounts must not cost an API call";

  // Not for the webhook: answered allowed and unchanged.
  std::string unlabelled = R"({"metadata":{"name":"x"},"spec":{"containers":[{"name":"a"}]}})";
  reply = admit(review("uid-unlabelled", unlabelled));
  EXPECT_EQ(reply.at("response").at("allowed"), true);
  EXPECT_FALSE(reply.at("response").as_object().contains("patch"));
  reply = admit(review("uid-update", basic, "admission.k8s.io/v1", "UPDATE"));
  EXPECT_EQ(reply.at("response").at("allowed"), true);
  EXPECT_FALSE(reply.at("response").as_object().contains("patch"));

  // Denials carry a code and a message the user can act on.
  reply = admit(review("uid-missing", labelled_pod("ghost")));
  EXPECT_EQ(reply.at("response").at("allowed"), false);
  EXPECT_EQ(reply.at("response").at("status").at("code"), 400);
  EXPECT_NE(std::string(reply.at("response").at("status").at("message").as_string()).find("\"ghost\" not found"),
            std::string::npos);
  EXPECT_EQ(api_gets(), 1) << "a miss costs exactly one GET";
  reply = admit(review("uid-expiry", labelled_pod("app", R"({"azure.workload.identity/service-account-token-expiration":"60"})")));
  EXPECT_EQ(reply.at("response").at("status").at("code"), 400);
  reply = admit(review("uid-hostnet", labelled_pod("app", R"({"azure.workload.identity/inject-proxy-sidecar":"true"})",
                                                   R"("hostNetwork":true,)")));
  EXPECT_NE(std::string(reply.at("response").at("status").at("message").as_string()).find("hostNetwork"),
            std::string::npos);

  // One structured line per admission, metrics by namespace and result. The line is written after the answer is
  // sent (its duration is the answer's); the metrics are counted before.
  const char* line = R"("msg":"admission","uid":"uid-proxy","pod":"app-","namespace":"ns1","service_account":"app")";
  EXPECT_TRUE(eventually([&] { return webhook->log().find(line) != std::string::npos; })) << webhook->log();
  std::string log = webhook->log();
  EXPECT_NE(log.find(R"("injected_into":"migrate,app,azwi-proxy","proxy":"native-sidecar","proxy_mode":"init-container")"),
            std::string::npos);
  EXPECT_EQ(log.find("api-token"), std::string::npos) << "the API token must never be logged";
  auto metrics = plain_get(metrics_port, "/metrics").response.body;
  EXPECT_NE(metrics.find(R"(azwi_webhook_admission_requests_total{namespace="ns1",result="mutated"} 2)"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find(R"(result="denied"} 3)"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("azwi_webhook_admission_duration_seconds_bucket"), std::string::npos);
  EXPECT_EQ(webhook->stop(), 0) << "SIGTERM is a clean exit";
}

TEST_F(WebhookOnStandInApiServer, OlderApiServerKeepsTheUpstreamOrder) {
  start_api({"--version", "v1.31.0"});
  start_webhook(api->port());
  ASSERT_TRUE(eventually([this] { return ready(); })) << webhook->log();
  auto reply = admit(review("u", labelled_pod("app", R"({"azure.workload.identity/inject-proxy-sidecar":"true"})")));
  auto patch = patch_of(reply);
  bool sidecar_first = false, init_appended = false;
  for (const auto& op : patch) {
    if (op.at("path") == "/spec/containers/0" && op.at("value").at("name") == "azwi-proxy") sidecar_first = true;
    if (op.at("path") == "/spec/initContainers" && op.at("value").at(0).at("name") == "azwi-proxy-init") init_appended = true;
  }
  EXPECT_TRUE(sidecar_first && init_appended) << json::serialize(patch);
}

// A private authority (the emulator on the test cluster) with its own CA: the override reaches every container,
// the CA only the sidecar, and the patch applies with python3-jsonpatch. With --token-layout=v1.5: upstream v1.5's
// paths.
TEST_F(WebhookOnStandInApiServer, PrivateAuthorityAndProxyCAFromTheEnvironmentInTheV15Layout) {
  start_api({"--version", "v1.33.1"});
  start_webhook(api->port(), {"--token-layout=v1.5"},
                {{"AZURE_AUTHORITY_HOST", "https://azwi-emulator.azwi-system.svc:8443"},
                 {"PROXY_CA_CONFIGMAP", "azwi-emulator-ca:ca.pem"}});
  ASSERT_TRUE(eventually([this] { return ready(); })) << webhook->log();
  EXPECT_NE(webhook->log().find(R"("authority_host":"https://azwi-emulator.azwi-system.svc:8443/","proxy_ca_configmap":"azwi-emulator-ca:ca.pem")"),
            std::string::npos)
      << webhook->log();
  const std::string env = R"({"name":"AZURE_CLIENT_ID","value":"cid-app"},{"name":"AZURE_TENANT_ID","value":"tenant-app"},)"
                          R"({"name":"AZURE_FEDERATED_TOKEN_FILE","value":"/var/run/secrets/azure/tokens/azure-identity-token"},)"
                          R"({"name":"AZURE_AUTHORITY_HOST","value":"https://azwi-emulator.azwi-system.svc:8443/"})";
  std::string proxied = labelled_pod("app", R"({"azure.workload.identity/inject-proxy-sidecar":"true"})");
  auto reply = admit(review("uid-ca", proxied));
  ASSERT_EQ(reply.at("response").at("allowed"), true) << json::serialize(reply);
  json::array cases;
  cases.push_back(json::object{
      {"name", "private-authority"},
      {"original", json::parse(proxied)},
      {"patch", patch_of(reply)},
      {"expected", json::parse(expand(R"({"metadata":{"generateName":"app-","labels":{"azure.workload.identity/use":"true"},
        "annotations":{"azure.workload.identity/inject-proxy-sidecar":"true","azure.workload.identity/proxy-sidecar-mode":"init-container"}},
        "spec":{"serviceAccountName":"app","initContainers":[
          {"name":"azwi-proxy-init","image":"registry.test/proxy-init:1","imagePullPolicy":"IfNotPresent","env":[{"name":"PROXY_PORT","value":"8000"}],
           $RESOURCES"securityContext":{"capabilities":{"add":["NET_ADMIN"],"drop":["ALL"]},"privileged":true,
           "readOnlyRootFilesystem":true,"runAsNonRoot":false,"runAsUser":0}},
          {"name":"azwi-proxy","image":"registry.test/proxy:1","imagePullPolicy":"IfNotPresent","args":["--proxy-port=8000","--log-level=info"],
           "ports":[{"containerPort":8000}],"lifecycle":{"postStart":{"exec":{"command":["/usr/local/bin/azwi-proxy","--probe","--proxy-port=8000"]}}},
           $RESOURCES"securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]},"privileged":false,"readOnlyRootFilesystem":true,
           "runAsNonRoot":true,"runAsUser":1501},"restartPolicy":"Always","env":[)" + env +
           R"(,{"name":"SSL_CERT_FILE","value":"/var/run/secrets/azure/tokens/azwi-proxy-ca.crt"}],"volumeMounts":[$MOUNT15]}],
        "containers":[{"name":"app","image":"busybox","env":[)" + env + R"(],"volumeMounts":[$MOUNT15]}],
        "volumes":[{"name":"azure-identity-token","projected":{"sources":[{"serviceAccountToken":{"path":"azure-identity-token",
        "expirationSeconds":3600,"audience":"api://AzureADTokenExchange"}},
        {"configMap":{"name":"azwi-emulator-ca","items":[{"key":"ca.pem","path":"azwi-proxy-ca.crt"}],"optional":false}}]}}]}})"))}});
  write_file(dir + "/cases.json", json::serialize(cases));
  std::string cmd = std::string(DEBIAN_PYTHON) + " " + APPLY_SCRIPT + " " + dir + "/cases.json > " + dir +
                    "/apply.out 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << read_file(dir + "/apply.out");
  EXPECT_NE(read_file(dir + "/apply.out").find("1 passed, 0 failed"), std::string::npos);

  // The mutated pod sent again (reinvocation): no patch.
  json::value mutated = cases[0].at("expected");
  reply = admit(review("uid-ca-again", json::serialize(mutated)));
  EXPECT_EQ(reply.at("response").at("allowed"), true);
  EXPECT_FALSE(reply.at("response").as_object().contains("patch")) << json::serialize(reply);

  // Without the sidecar nothing of the CA is added; the authority is.
  reply = admit(review("uid-plain", labelled_pod("app")));
  std::string patch = json::serialize(patch_of(reply));
  EXPECT_EQ(patch.find("configMap"), std::string::npos) << patch;
  EXPECT_EQ(patch.find("SSL_CERT_FILE"), std::string::npos) << patch;
  EXPECT_NE(patch.find("https://azwi-emulator.azwi-system.svc:8443/"), std::string::npos) << patch;
}

TEST_F(WebhookOnStandInApiServer, ServiceAccountsCreatedOrChangedAfterStartup) {
  start_api();
  start_webhook(api->port(), {"--log-level=debug"});
  ASSERT_TRUE(eventually([this] { return ready(); })) << webhook->log();
  EXPECT_EQ(injected_client_id("late"), "");
  put_sa("late", "late-1");
  EXPECT_TRUE(eventually([&] { return injected_client_id("late") == "late-1"; }));
  auto gets = api_gets();
  put_sa("late", "late-2");  // a change reaches the webhook through the watch, not through GETs
  EXPECT_TRUE(eventually([&] { return injected_client_id("late") == "late-2"; }));
  EXPECT_EQ(api_gets(), gets);
  ASSERT_EQ(control("POST", "/__test__/compact").response.status, 200);  // watch history gone: 410, relist
  put_sa("late", "late-3");
  EXPECT_TRUE(eventually([&] { return injected_client_id("late") == "late-3"; }));
  EXPECT_EQ(api_gets(), gets);
  // Every watch event is logged at debug level; the API token and the serving key never are.
  std::string log = webhook->log();
  EXPECT_NE(log.find(R"("level":"debug")"), std::string::npos) << log;
  EXPECT_EQ(log.find("api-token"), std::string::npos);
  std::string key = read_file(dir + "/certs/tls.key");
  std::string key_body = key.substr(key.find('\n') + 1, 40);
  ASSERT_FALSE(key_body.empty());
  EXPECT_EQ(log.find(key_body), std::string::npos);
}

TEST_F(WebhookOnStandInApiServer, ApiServerDownAtStartAndLater) {
  int api_port = free_port();
  start_webhook(api_port);
  auto r = plain_get(health_port, "/readyz");
  ASSERT_FALSE(r.error);
  EXPECT_EQ(r.response.status, 503);
  EXPECT_NE(r.response.body.find("service account cache not synced"), std::string::npos) << r.response.body;
  EXPECT_EQ(plain_get(health_port, "/healthz").response.status, 200);
  auto reply = admit(review("u-down", labelled_pod("app")));
  EXPECT_EQ(reply.at("response").at("allowed"), false);
  EXPECT_EQ(reply.at("response").at("status").at("code"), 500);
  EXPECT_NE(std::string(reply.at("response").at("status").at("message").as_string()).find("cannot reach the API server"),
            std::string::npos);

  start_api({}, api_port);
  EXPECT_TRUE(eventually([this] { return ready(); }, std::chrono::seconds(20))) << webhook->log();
  EXPECT_EQ(injected_client_id("app"), "cid-app");

  api.reset();  // down again: cached accounts are still served, misses are a clear 500
  EXPECT_EQ(injected_client_id("app"), "cid-app");
  reply = admit(review("u-miss", labelled_pod("unknown")));
  EXPECT_EQ(reply.at("response").at("status").at("code"), 500);

  start_api({}, api_port);
  put_sa("after", "after-1");
  EXPECT_TRUE(eventually([&] { return injected_client_id("after") == "after-1"; }, std::chrono::seconds(20)));
  EXPECT_TRUE(webhook->running());
}

TEST_F(WebhookOnStandInApiServer, ManyConcurrentConnections) {
  start_api();
  start_webhook(api->port());
  ASSERT_TRUE(eventually([this] { return ready(); })) << webhook->log();
  constexpr int kThreads = 32, kRequests = 25;
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      http::Client client(webhook_client_options());
      for (int i = 0; i < kRequests; ++i) {
        std::string uid = "c-" + std::to_string(t) + "-" + std::to_string(i);
        auto r = post(client, review(uid, labelled_pod(i % 2 ? "app" : "plain")));
        if (r.error || r.response.status != 200) continue;
        auto v = json::parse(r.response.body);
        if (v.at("response").at("uid") == json::value(uid) && v.at("response").at("allowed") == true) ++good;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(good.load(), kThreads * kRequests);
  EXPECT_EQ(api_gets(), 0);
}

TEST_F(WebhookOnStandInApiServer, RefusesOldTlsAndReloadsRotatedCertificates) {
  start_api();
  start_webhook(api->port());
  ASSERT_TRUE(eventually([this] { return ready(); })) << webhook->log();
  EXPECT_FALSE(handshake(port, TLS1_2_VERSION)) << "TLS 1.2 must be refused at the default minimum of 1.3";
  EXPECT_EQ(handshake(port, TLS1_3_VERSION), "webhook-one");

  make_cert(dir, "rotated", "webhook-two");
  install_webhook_cert("rotated");
  EXPECT_TRUE(eventually([&] { return handshake(port, TLS1_3_VERSION) == std::optional<std::string>("webhook-two"); }));
  EXPECT_EQ(injected_client_id("app"), "cid-app");

  auto relaxed = launch({"--kubeconfig", dir + "/kubeconfig", "--webhook-cert-dir", dir + "/certs", "--webhook-addr",
                         "127.0.0.1:0", "--health-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0",
                         "--tls-min-version", "VersionTLS12"});
  std::regex re("\"webhook_port\":([0-9]+)");
  std::smatch m;
  std::string log;  // outlives the match, which points into it
  ASSERT_TRUE(eventually([&] {
    log = relaxed->log();
    return std::regex_search(log, m, re);
  }));
  EXPECT_TRUE(handshake(std::stoi(m[1]), TLS1_2_VERSION));
}

TEST_F(WebhookOnStandInApiServer, NotReadyUntilTheCertificateAppears) {
  std::filesystem::remove(dir + "/certs/tls.crt");
  std::filesystem::remove(dir + "/certs/tls.key");
  start_api();
  start_webhook(api->port());
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  auto r = plain_get(health_port, "/readyz");
  EXPECT_EQ(r.response.status, 503);
  EXPECT_NE(r.response.body.find("serving certificate not loaded"), std::string::npos) << r.response.body;
  EXPECT_FALSE(handshake(port, TLS1_3_VERSION));
  install_webhook_cert("webhook");
  EXPECT_TRUE(eventually([this] { return ready(); })) << webhook->log();
  EXPECT_EQ(handshake(port, TLS1_3_VERSION), "webhook-one");
}

TEST_F(WebhookOnStandInApiServer, MalformedRequestsAreRefusedClearlyAndNeverCrashTheServer) {
  start_api();
  start_webhook(api->port());
  ASSERT_TRUE(eventually([this] { return ready(); })) << webhook->log();
  http::Client client(webhook_client_options());
  struct Case {
    std::string body;
    unsigned status;
    std::string says;
  };
  std::string deep(100, '[');
  std::vector<Case> cases = {
      {"", 400, "not JSON"},
      {"{", 400, "not JSON"},
      {"[1,2]", 400, "not a JSON object"},
      {deep, 400, "not JSON"},
      {R"({"apiVersion":"admission.k8s.io/v2","kind":"AdmissionReview","request":{"uid":"u"}})", 400, "apiVersion"},
      {R"({"apiVersion":"admission.k8s.io/v1","kind":"Pod","request":{"uid":"u"}})", 400, "expected AdmissionReview"},
      {R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"})", 400, "no request"},
      {R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":7}})", 400, "request.uid"},
      {R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"CREATE","object":"pod"}})",
       200, "request.object is not a pod"},
      {review("u", R"({"metadata":{"labels":{"azure.workload.identity/use":"true"}},"spec":{"serviceAccountName":"app","containers":{}}})"), 200,
       "not a list"},
      {review("u", labelled_pod("app"), "admission.k8s.io/v1", "CREATE", ""), 200, "no namespace"},
  };
  for (const auto& c : cases) {
    auto r = post(client, c.body);
    ASSERT_FALSE(r.error) << r.error->message;
    EXPECT_EQ(r.response.status, c.status) << c.body.substr(0, 100);
    EXPECT_NE(r.response.body.find(c.says), std::string::npos) << r.response.body;
  }
  // Past the 3 MiB limit the server answers 413 and closes without reading the rest, so the client may only see
  // its upload cut short.
  auto big = post(client, std::string(4 * 1024 * 1024, ' '));
  EXPECT_TRUE(big.error || big.response.status == 413) << big.response.status;
  EXPECT_EQ(post(client, "{}", "/other").response.status, 404);
  EXPECT_EQ(post(client, "", "/mutate-v1-pod", "application/json", "GET").response.status, 405);
  EXPECT_EQ(post(client, "{}", "/mutate-v1-pod", "text/plain").response.status, 415);
  EXPECT_EQ(injected_client_id("app"), "cid-app");
  EXPECT_TRUE(webhook->running());
}

TEST_F(WebhookOnStandInApiServer, StartupErrorsNameTheirCause) {
  auto exit_of = [&](std::vector<std::string> args, std::map<std::string, std::string> env,
                     std::vector<std::string> removed = {}) {
    auto p = launch(std::move(args), std::move(env), std::move(removed));
    auto code = p->wait_exit(std::chrono::seconds(10));
    return std::make_pair(code.value_or(-999), p->log());
  };
  write_kubeconfig(free_port());
  auto [code, log] = exit_of({"--kubeconfig", dir + "/kubeconfig"}, {}, {"AZURE_TENANT_ID"});
  EXPECT_EQ(code, 1);
  EXPECT_NE(log.find("AZURE_TENANT_ID is not set"), std::string::npos) << log;
  std::tie(code, log) = exit_of({"--kubeconfig", dir + "/kubeconfig"}, {{"AZURE_ENVIRONMENT", "AzureMarsCloud"}});
  EXPECT_EQ(code, 1);
  EXPECT_NE(log.find("AZURE_ENVIRONMENT=\\\"AzureMarsCloud\\\" is not a known cloud"), std::string::npos) << log;
  // An authority host the SDKs would not use, or a CA ConfigMap that cannot exist, stops start-up naming both.
  for (auto [value, problem] : std::vector<std::pair<std::string, std::string>>{
           {"http://azwi-emulator:8443/", "its scheme is http"},
           {"azwi-emulator:8443", "not an absolute URL"},
           {"https://user@azwi-emulator/", "user info"},
           {"https://azwi-emulator/?tenant=x", "query"},
           {"https://azwi-emulator/#x", "fragment"},
           {"https:///", "no host"}}) {
    std::tie(code, log) = exit_of({"--kubeconfig", dir + "/kubeconfig"}, {{"AZURE_AUTHORITY_HOST", value}});
    EXPECT_EQ(code, 1) << value;
    EXPECT_NE(log.find("azwi-webhook: AZURE_AUTHORITY_HOST=\"" + value + "\" is not usable: "), std::string::npos)
        << log;
    EXPECT_NE(log.find(problem), std::string::npos) << value << ": " << log;
  }
  std::tie(code, log) = exit_of({"--kubeconfig", dir + "/kubeconfig"}, {{"PROXY_CA_CONFIGMAP", "Emulator_CA"}});
  EXPECT_EQ(code, 1);
  EXPECT_NE(log.find("azwi-webhook: PROXY_CA_CONFIGMAP=\"Emulator_CA\" is not usable: the ConfigMap name"),
            std::string::npos)
      << log;
  // Upstream v1.6.0's settings and ours, each refused with a message naming it.
  for (auto [args, env, problem] : std::vector<std::tuple<std::vector<std::string>, std::map<std::string, std::string>,
                                                          std::string>>{
           {{"--token-layout=v1.7"}, {}, "--token-layout=\\\"v1.7\\\" is not v1.6 or v1.5"},
           {{"--metrics-backend=opencensus"}, {}, "only prometheus is"},
           {{"--proxy-resources=limits.cpu=lots"}, {}, "--proxy-resources=\\\"limits.cpu=lots\\\" is not usable"},
           {{"--proxy-init-resources=cpu=1"}, {}, "unknown key"},
           {{"--custom-token-endpoint-annotation-suffix=binding"}, {}, "the custom token endpoint needs both"},
           {{"--custom-token-endpoint-annotation-suffix=binding", "--custom-token-endpoint-audience=api://binding"},
            {{"AZURE_KUBERNETES_TOKEN_PROXY", "https://binding.test"}, {"AZURE_KUBERNETES_CA_DATA", "pem"},
             {"AZURE_KUBERNETES_CA_CONFIGMAP_NAME", "ca"}},
            "choose one CA source"}}) {
    std::vector<std::string> all = {"--kubeconfig", dir + "/kubeconfig"};
    all.insert(all.end(), args.begin(), args.end());
    std::tie(code, log) = exit_of(all, env);
    EXPECT_EQ(code, 1) << args[0];
    EXPECT_NE(log.find(problem), std::string::npos) << problem << " not in: " << log;
  }
  std::tie(code, log) = exit_of({}, {});
  EXPECT_EQ(code, 1);
  EXPECT_NE(log.find("--kubeconfig"), std::string::npos) << log;
  std::tie(code, log) = exit_of({"--tls-min-version", "1.0"}, {});
  EXPECT_EQ(code, 2);
  EXPECT_NE(log.find("--tls-min-version"), std::string::npos);
  std::tie(code, log) = exit_of({"--no-such-flag"}, {});
  EXPECT_EQ(code, 2);
  std::tie(code, log) = exit_of({"--version"}, {});
  EXPECT_EQ(code, 0);
  EXPECT_NE(log.find(std::string("azwi-webhook ") + AZWI_VERSION), std::string::npos);
  std::tie(code, log) = exit_of({"--help"}, {});
  EXPECT_EQ(code, 0);
  for (const char* flag : {"--webhook-addr", "--webhook-cert-dir", "--tls-min-version", "--audience", "--health-addr",
                           "--metrics-addr", "--kubeconfig", "--log-level", "--log-format", "--version",
                           "--disable-cert-rotation", "AZURE_TENANT_ID", "AZURE_ENVIRONMENT", "PROXY_IMAGE",
                           "PROXY_INIT_IMAGE", "AZURE_AUTHORITY_HOST", "PROXY_CA_CONFIGMAP", "--token-layout",
                           "--proxy-resources", "--proxy-init-resources", "--custom-token-endpoint-annotation-suffix",
                           "--custom-token-endpoint-audience", "--metrics-backend", "AZURE_KUBERNETES_TOKEN_PROXY",
                           "AZURE_KUBERNETES_SNI_NAME", "AZURE_KUBERNETES_CA_DATA", "AZURE_KUBERNETES_CA_CONFIGMAP_NAME",
                           "AZURE_KUBERNETES_CA_CTB_SIGNER_NAME", "AZURE_KUBERNETES_CA_CTB_LABEL_SELECTOR"})
    EXPECT_NE(log.find(flag), std::string::npos) << flag;
  EXPECT_NE(log.find("\":9443\""), std::string::npos) << log;
}

}  // namespace

// --proxy-sidecar-mode sets the mode of pods without the annotation: no init container, the App Service variables
// with a secret per pod, the mode written on the pod and in the admission line, the secret in neither log nor line.
TEST_F(WebhookOnStandInApiServer, ProxySidecarModeFlagIsTheDefaultOfPodsWithoutTheAnnotation) {
  start_api({"--version", "v1.33.1"});
  start_webhook(api->port(), {"--proxy-sidecar-mode=identity-endpoint"});
  ASSERT_TRUE(eventually([this] { return ready(); })) << webhook->log();
  EXPECT_NE(webhook->log().find(R"("proxy_sidecar_mode":"identity-endpoint")"), std::string::npos) << webhook->log();
  std::string proxied = labelled_pod("app", R"({"azure.workload.identity/inject-proxy-sidecar":"true"})");
  std::vector<std::string> secrets;
  for (const char* uid : {"uid-endpoint-1", "uid-endpoint-2"}) {
    auto reply = admit(review(uid, proxied));
    ASSERT_EQ(reply.at("response").at("allowed"), true) << json::serialize(reply);
    std::string patch = json::serialize(patch_of(reply));
    EXPECT_EQ(patch.find("azwi-proxy-init"), std::string::npos) << patch;
    EXPECT_NE(patch.find(R"("path":"/metadata/annotations/azure.workload.identity~1proxy-sidecar-mode","value":"identity-endpoint")"),
              std::string::npos) << patch;
    EXPECT_NE(patch.find(R"({"name":"IDENTITY_ENDPOINT","value":"http://127.0.0.1:8000/msi/token"})"), std::string::npos);
    auto at = patch.find(R"({"name":"IDENTITY_HEADER","value":")");
    ASSERT_NE(at, std::string::npos) << patch;
    at += std::string_view(R"({"name":"IDENTITY_HEADER","value":")").size();
    secrets.push_back(patch.substr(at, patch.find('"', at) - at));
  }
  EXPECT_EQ(secrets[0].size(), 43u);
  EXPECT_NE(secrets[0], secrets[1]) << "two pods share a secret";
  std::string log = webhook->log();
  EXPECT_NE(log.find(R"("proxy":"native-sidecar","proxy_mode":"identity-endpoint")"), std::string::npos) << log;
  for (const auto& s : secrets) EXPECT_EQ(log.find(s), std::string::npos) << "a pod's secret reached the log";
}

TEST_F(WebhookOnStandInApiServer, AnUnknownProxySidecarModeStopsStartUpNamingTheValidOnes) {
  write_kubeconfig(free_port());
  auto p = launch({"--kubeconfig", dir + "/kubeconfig", "--proxy-sidecar-mode=sidecarless"}, {});
  EXPECT_EQ(p->wait_exit(std::chrono::seconds(10)).value_or(-999), 1);
  EXPECT_NE(p->log().find(R"(azwi-webhook: invalid --proxy-sidecar-mode "sidecarless": use init-container, identity-endpoint or cni)"),
            std::string::npos) << p->log();
}
