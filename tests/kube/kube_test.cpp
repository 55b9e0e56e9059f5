// The Kubernetes client and service-account cache against the stand-in API server (real HTTPS, real processes),
// plus unit tests of version and kubeconfig parsing.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <boost/json.hpp>

#include "http/asio_client.hpp"
#include "kube/cache.hpp"
#include "kube/client.hpp"
#include "kube/cluster_config.hpp"
#include "support.hpp"

using namespace azwi;
using namespace azwi::testing;

namespace {

TEST(ServerVersion, ParsesGitVersionAndFallsBackToFields) {
  auto v = kube::parse_server_version(R"({"major":"1","minor":"28+","gitVersion":"v1.32.3-eks-1234"})");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->major, 1);
  EXPECT_EQ(v->minor, 32);
  v = kube::parse_server_version(R"({"major":"1","minor":"31+"})");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->minor, 31);
  EXPECT_FALSE(kube::parse_server_version("not json"));
  EXPECT_FALSE(kube::parse_server_version(R"({"gitVersion":"garbage"})"));
}

TEST(ServiceAccountJson, KeepsOnlyWorkloadIdentityAnnotations) {
  auto sa = kube::service_account_from_json(boost::json::parse(
      R"({"metadata":{"name":"a","namespace":"n","resourceVersion":"7","annotations":{
          "azure.workload.identity/client-id":"c","kubectl.kubernetes.io/last-applied-configuration":"{}"}}})"));
  ASSERT_TRUE(sa);
  EXPECT_EQ(sa->annotations.size(), 1u);
  EXPECT_EQ(*sa->annotation("azure.workload.identity/client-id"), "c");
  EXPECT_EQ(sa->resource_version, "7");
  EXPECT_FALSE(kube::service_account_from_json(boost::json::parse(R"({"metadata":{}})")));
  EXPECT_FALSE(kube::service_account_from_json(boost::json::parse(R"([1])")));
}

class KubeconfigTest : public ::testing::Test {
 protected:
  std::string dir = make_temp_dir("azwi-kubeconfig");
  void TearDown() override { std::filesystem::remove_all(dir); }
};

TEST_F(KubeconfigTest, TokenFileAndRelativePaths) {
  write_file(dir + "/config", kubeconfig_yaml("https://10.0.0.1:6443/", "ca.pem", "    tokenFile: tok\n"));
  auto c = kube::kubeconfig_config(dir + "/config");
  EXPECT_EQ(c.server, "https://10.0.0.1:6443");
  EXPECT_EQ(c.ca_file, dir + "/ca.pem");
  EXPECT_EQ(c.token_file, dir + "/tok");
}

TEST_F(KubeconfigTest, EmbeddedClientCertificate) {
  write_file(dir + "/config",
             kubeconfig_yaml("https://h:1", "/abs/ca.pem",
                             "    client-certificate-data: " "Q0VSVA==\n    client-key-data: S0VZ\n"));
  auto c = kube::kubeconfig_config(dir + "/config");
  EXPECT_EQ(c.ca_file, "/abs/ca.pem");
  EXPECT_EQ(c.client_cert_pem, "CERT");
  EXPECT_EQ(c.client_key_pem, "KEY");
}

TEST_F(KubeconfigTest, ErrorsNameTheProblem) {
  auto message = [&](const std::string& text) {
    write_file(dir + "/config", text);
    try {
      kube::kubeconfig_config(dir + "/config");
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("current-context: x\n").find("no context named \"x\""), std::string::npos);
  EXPECT_NE(message(kubeconfig_yaml("https://h:1", "ca", "    exec:\n      command: aws\n")).find("\"exec\" is not supported"),
            std::string::npos);
  EXPECT_NE(message(kubeconfig_yaml("https://h:1", "ca", "    client-certificate: c.pem\n")).find("needs its key"),
            std::string::npos);
  EXPECT_NE(message("a: [unclosed\n").find("cannot read kubeconfig"), std::string::npos);
  EXPECT_NE(message(kubeconfig_yaml("https://h:1", "ca", "    token: t\n") + "  bad: [\n").find("kubeconfig"),
            std::string::npos);
  try {
    kube::kubeconfig_config(dir + "/missing");
    FAIL();
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find(dir + "/missing"), std::string::npos);
  }
}

TEST_F(KubeconfigTest, KubeconfigListIsMergedAsKubectlMergesIt) {
  std::filesystem::create_directories(dir + "/a");
  std::filesystem::create_directories(dir + "/b");
  // The first file chooses the context and defines the user; the second defines the context and the cluster,
  // plus a user of the same name that must lose to the first file's.
  write_file(dir + "/a/config", R"(apiVersion: v1
kind: Config
current-context: work
users:
- name: me
  user:
    tokenFile: token-a
)");
  write_file(dir + "/b/config", R"(apiVersion: v1
kind: Config
current-context: other
contexts:
- name: work
  context: {cluster: prod, user: me}
clusters:
- name: prod
  cluster: {server: "https://10.1.2.3:6443", certificate-authority: ca-b.pem}
users:
- name: me
  user: {token: from-b}
)");
  std::string list = dir + "/a/config::" + dir + "/missing:" + dir + "/b/config";
  auto c = kube::kubeconfig_list_config(list);
  EXPECT_EQ(c.source, "KUBECONFIG=" + list);
  EXPECT_EQ(c.server, "https://10.1.2.3:6443");
  EXPECT_EQ(c.ca_file, dir + "/b/ca-b.pem");    // relative to the file that defines the cluster
  EXPECT_EQ(c.token_file, dir + "/a/token-a");  // the first file's user, relative to it
  EXPECT_TRUE(c.token.empty());

  // Order matters: with b first, its current-context and its user win.
  try {
    kube::kubeconfig_list_config(dir + "/b/config:" + dir + "/a/config");
    FAIL() << "context \"other\" does not exist";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("no context named \"other\""), std::string::npos) << e.what();
  }
  try {
    kube::kubeconfig_list_config(dir + "/nope:" + dir + "/nope2");
    FAIL();
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("none of its files exists"), std::string::npos) << e.what();
  }
}

TEST(InClusterConfig, RequiresServiceEnvironment) {
  unsetenv("KUBERNETES_SERVICE_HOST");
  try {
    kube::in_cluster_config("/nonexistent");
    FAIL();
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("--kubeconfig"), std::string::npos);
  }
}

// The stand-in API server with a throw-away PKI; control requests go through the same HTTPS.
class StandInApiServer : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = make_temp_dir("azwi-kube");
    make_ca(dir);
    make_cert(dir, "server", "localhost");
  }
  void TearDown() override {
    api.reset();
    std::filesystem::remove_all(dir);
  }
  void start(std::vector<std::string> extra) { api = std::make_unique<FakeApiServer>(dir, std::move(extra)); }
  kube::ClusterConfig token_config() { return token_config_for(api->port()); }
  kube::ClusterConfig token_config_for(int port) {
    kube::ClusterConfig c;
    c.server = "https://127.0.0.1:" + std::to_string(port);
    c.ca_file = dir + "/ca.crt";
    c.token = "t0ken";
    return c;
  }
  http::ClientResult control(const std::string& method, const std::string& path, const std::string& body = "") {
    http::ClientOptions o;
    o.ca_file = dir + "/ca.crt";
    http::AsioClient client(o, http::EgressProxySettings("", "", ""));
    http::ClientRequest r;
    r.method = method;
    r.url = api->url() + path;
    r.body = body;
    r.headers = {{"Authorization", "Bearer " + control_token}, {"Content-Type", "application/json"}};
    return client.perform(r);
  }
  void put_sa(const std::string& ns, const std::string& name, const std::string& client_id) {
    auto r = control("POST", "/__test__/serviceaccounts",
                     R"({"metadata":{"name":")" + name + R"(","namespace":")" + ns +
                         R"(","annotations":{"azure.workload.identity/client-id":")" + client_id + R"("}}})");
    ASSERT_FALSE(r.error) << r.error->message;
    ASSERT_EQ(r.response.status, 201);
  }
  boost::json::object stats() { return boost::json::parse(control("GET", "/__test__/stats").response.body).as_object(); }

  std::string dir;
  std::string control_token = "t0ken";
  std::unique_ptr<FakeApiServer> api;
};

TEST_F(StandInApiServer, VersionGetAndPaginatedList) {
  start({"--token", "t0ken", "--version", "v1.31.4", "--seed-count", "1203"});
  kube::ApiClient client(token_config());
  std::string error;
  auto v = client.version(&error);
  ASSERT_TRUE(v) << error;
  EXPECT_EQ(v->minor, 31);
  auto found = client.get_service_account("ns-3", "filler-3");
  ASSERT_TRUE(found.sa) << found.error;
  EXPECT_EQ(*found.sa->annotation("azure.workload.identity/client-id"), "client-3");
  auto missing = client.get_service_account("ns-3", "nope");
  EXPECT_TRUE(missing.not_found);
  auto list = client.list_service_accounts(500);
  ASSERT_TRUE(list.error.empty()) << list.error;
  EXPECT_EQ(list.items.size(), 1203u);
  EXPECT_FALSE(list.resource_version.empty());
  EXPECT_EQ(stats().at("list").as_int64(), 3);
}

TEST_F(StandInApiServer, WrongTokenAndUnreachableServerAreClearErrors) {
  start({"--token", "right"});
  auto c = token_config();
  c.token = "wrong";
  kube::ApiClient client(c);
  auto r = client.get_service_account("a", "b");
  EXPECT_FALSE(r.sa);
  EXPECT_FALSE(r.not_found);
  EXPECT_NE(r.error.find("401"), std::string::npos) << r.error;

  c.server = "https://127.0.0.1:" + std::to_string(free_port());
  kube::ApiClient down(c);
  r = down.get_service_account("a", "b");
  EXPECT_NE(r.error.find("cannot reach the API server"), std::string::npos) << r.error;
}

std::string base64_of(const std::string& text) {
  std::string out(4 * ((text.size() + 2) / 3), '\0');
  EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(text.data()),
                  static_cast<int>(text.size()));
  return out;
}

TEST_F(StandInApiServer, ClientCertificateFromKubeconfigData) {
  make_cert(dir, "client", "azwi-webhook", true);
  start({"--client-ca", dir + "/ca.crt"});
  auto b64 = [&](const std::string& file) { return base64_of(read_file(dir + "/" + file)); };
  write_file(dir + "/config",
             kubeconfig_yaml(api->url(), "ca.crt",
                             "    client-certificate-data: " + b64("client.crt") + "\n    client-key-data: " +
                                 b64("client.key") + "\n"));
  kube::ApiClient client(kube::kubeconfig_config(dir + "/config"));
  std::string error;
  EXPECT_TRUE(client.version(&error)) << error;
}

// The server refuses TLS without a client certificate and accepts only its common name; the watch (a streamed
// request) authenticates the same way as the GETs.
TEST_F(StandInApiServer, RequiredClientCertificateFromFilesAndData) {
  make_cert(dir, "client", "azwi-webhook", true);
  make_cert(dir, "stranger", "someone-else", true);
  start({"--client-ca", dir + "/ca.crt", "--require-client-cert", "--client-cn", "azwi-webhook"});
  std::string error;

  write_file(dir + "/files", kubeconfig_yaml(api->url(), "ca.crt",
                                             "    client-certificate: client.crt\n    client-key: client.key\n"));
  kube::ApiClient by_files(kube::kubeconfig_config(dir + "/files"));
  EXPECT_TRUE(by_files.version(&error)) << error;
  auto list = by_files.list_service_accounts();
  EXPECT_TRUE(list.error.empty()) << list.error;
  std::atomic<bool> stop{false};
  std::string watch_error;
  // The server ends a watch after its timeoutSeconds (1): a clean close, after authenticating.
  EXPECT_EQ(by_files.watch_service_accounts(list.resource_version, 1, [](const kube::WatchEvent&) {}, stop, &watch_error),
            kube::WatchEnd::closed)
      << watch_error;

  write_file(dir + "/data", kubeconfig_yaml(api->url(), "ca.crt",
                                            "    client-certificate-data: " + base64_of(read_file(dir + "/client.crt")) +
                                                "\n    client-key-data: " + base64_of(read_file(dir + "/client.key")) +
                                                "\n"));
  kube::ApiClient by_data(kube::kubeconfig_config(dir + "/data"));
  EXPECT_TRUE(by_data.version(&error)) << error;

  // Without a certificate the handshake fails; with another name the server answers 401.
  kube::ApiClient anonymous(token_config());
  EXPECT_FALSE(anonymous.version(&error));
  EXPECT_NE(error.find("cannot reach the API server"), std::string::npos) << error;
  write_file(dir + "/stranger", kubeconfig_yaml(api->url(), "ca.crt",
                                                "    client-certificate: stranger.crt\n    client-key: stranger.key\n"));
  kube::ApiClient stranger(kube::kubeconfig_config(dir + "/stranger"));
  EXPECT_FALSE(stranger.version(&error));
  EXPECT_NE(error.find("401"), std::string::npos) << error;
}

TEST_F(StandInApiServer, ClientKeyThatIsNotTheCertificatesIsAClearError) {
  make_cert(dir, "client", "azwi-webhook", true);
  make_cert(dir, "other", "other", true);
  start({"--client-ca", dir + "/ca.crt"});
  write_file(dir + "/config", kubeconfig_yaml(api->url(), "ca.crt",
                                              "    client-certificate: client.crt\n    client-key: other.key\n"));
  kube::ApiClient client(kube::kubeconfig_config(dir + "/config"));
  std::string error;
  EXPECT_FALSE(client.version(&error));
  EXPECT_NE(error.find("the client key (" + dir + "/other.key) does not belong to the client certificate"),
            std::string::npos)
      << error;
  std::atomic<bool> stop{false};
  EXPECT_EQ(client.watch_service_accounts("1", 5, [](const kube::WatchEvent&) {}, stop, &error), kube::WatchEnd::failed);
  EXPECT_NE(error.find("does not belong to the client certificate"), std::string::npos) << error;
}

// certificate-authority-data is used instead of certificate-authority (client-go's precedence).
TEST_F(StandInApiServer, CertificateAuthorityDataInMemory) {
  start({"--token", "t0ken", "--seed-count", "2"});
  std::string other = dir + "/other";
  std::filesystem::create_directory(other);
  make_ca(other);
  auto config_with_ca = [&](const std::string& ca_pem, const std::string& ca_file) {
    write_file(dir + "/config", kubeconfig_with(api->url(),
                                                "    certificate-authority-data: " + base64_of(ca_pem) + "\n" +
                                                    (ca_file.empty() ? "" : "    certificate-authority: " + ca_file + "\n"),
                                                "    token: t0ken\n"));
    return kube::kubeconfig_config(dir + "/config");
  };
  kube::ApiClient client(config_with_ca(read_file(dir + "/ca.crt"), other + "/ca.crt"));
  auto found = client.get_service_account("ns-1", "filler-1");
  EXPECT_TRUE(found.sa) << found.error;

  kube::ApiClient wrong(config_with_ca(read_file(other + "/ca.crt"), dir + "/ca.crt"));
  found = wrong.get_service_account("ns-1", "filler-1");
  EXPECT_FALSE(found.sa);
  EXPECT_NE(found.error.find("certificate"), std::string::npos) << found.error;

  kube::ApiClient garbage(config_with_ca("not a certificate", ""));
  found = garbage.get_service_account("ns-1", "filler-1");
  EXPECT_NE(found.error.find("in-memory CA bundle"), std::string::npos) << found.error;
}

// insecure-skip-tls-verify: no CA at all, and a certificate for other names, are accepted.
TEST_F(StandInApiServer, InsecureSkipTlsVerify) {
  make_cert(dir, "server", "elsewhere", false, "DNS:elsewhere.example");
  start({"--token", "t0ken"});
  write_file(dir + "/insecure",
             kubeconfig_with(api->url(), "    insecure-skip-tls-verify: true\n", "    token: t0ken\n"));
  kube::ApiClient insecure(kube::kubeconfig_config(dir + "/insecure"));
  std::string error;
  EXPECT_TRUE(insecure.version(&error)) << error;

  // The same server with verification: its certificate does not name 127.0.0.1.
  kube::ApiClient verifying(token_config());
  EXPECT_FALSE(verifying.version(&error));
  EXPECT_NE(error.find("TLS handshake"), std::string::npos) << error;
}

// Raising the stop flag ends a watch within a second while the server sends nothing, after the answer's head
// and before it (a server that accepts TCP but never speaks TLS).
TEST_F(StandInApiServer, StopFlagEndsAQuietWatchPromptly) {
  start({"--token", "t0ken", "--bookmark-seconds", "600"});
  kube::ApiClient client(token_config());
  auto list = client.list_service_accounts();
  ASSERT_TRUE(list.error.empty()) << list.error;

  auto watch_then_stop = [&](kube::ApiClient& c, const std::function<bool()>& watching) {
    std::atomic<bool> stop{false};
    std::string error;
    kube::WatchEnd end = kube::WatchEnd::closed;
    std::chrono::steady_clock::time_point ended;
    std::thread t([&] {
      end = c.watch_service_accounts(list.resource_version, 300, [](const kube::WatchEvent&) {}, stop, &error);
      ended = std::chrono::steady_clock::now();
    });
    bool started = eventually(watching);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // well into the quiet stream
    auto raised = std::chrono::steady_clock::now();
    stop = true;
    t.join();
    EXPECT_TRUE(started);
    EXPECT_EQ(end, kube::WatchEnd::stopped) << error;
    return ended - raised;
  };
  auto took = watch_then_stop(client, [&] { return stats().at("watch").as_int64() == 1; });
  EXPECT_LT(took, std::chrono::seconds(1)) << std::chrono::duration_cast<std::chrono::milliseconds>(took).count();

  int mute = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(mute, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(mute, 4), 0);  // the kernel completes TCP handshakes; nobody ever accepts
  socklen_t len = sizeof a;
  ::getsockname(mute, reinterpret_cast<sockaddr*>(&a), &len);
  kube::ApiClient silent(token_config_for(ntohs(a.sin_port)));
  took = watch_then_stop(silent, [] { return true; });
  EXPECT_LT(took, std::chrono::seconds(1)) << std::chrono::duration_cast<std::chrono::milliseconds>(took).count();
  ::close(mute);
}

// The watch and the GETs go through HTTPS_PROXY (CONNECT) when the server is not exempt, as client-go's do; the
// API server's name is one only the proxy can resolve.
TEST_F(StandInApiServer, WatchThroughTheEgressProxy) {
  make_cert(dir, "server", "apiserver", false, "DNS:apiserver.test,IP:127.0.0.1");  // the address for control()
  start({"--token", "t0ken", "--bookmark-seconds", "0.2"});
  Process proxy({"/usr/bin/python3", CONNECT_PROXY, "--port-file=" + dir + "/proxy.port", "--log=" + dir + "/proxy.log",
                 "--map=apiserver.test=127.0.0.1"},
                {}, dir + "/proxy.out");
  ASSERT_TRUE(eventually([&] { return !read_file(dir + "/proxy.port").empty(); })) << proxy.log();
  auto config = token_config();
  config.server = "https://apiserver.test:" + std::to_string(api->port());
  setenv("HTTPS_PROXY", ("http://127.0.0.1:" + read_file(dir + "/proxy.port")).c_str(), 1);
  unsetenv("https_proxy");
  unsetenv("NO_PROXY");
  unsetenv("no_proxy");
  kube::ApiClient client(config);
  unsetenv("HTTPS_PROXY");

  auto list = client.list_service_accounts();
  ASSERT_TRUE(list.error.empty()) << list.error;
  std::atomic<bool> stop{false};
  std::vector<std::string> seen;
  std::string error;
  std::thread t([&] {
    client.watch_service_accounts(list.resource_version, 10, [&](const kube::WatchEvent& e) {
      if (e.type == kube::WatchEvent::Type::added) {
        seen.push_back(e.object.ns + "/" + e.object.name);
        stop = true;
      }
    }, stop, &error);
  });
  bool watching = eventually([&] { return stats().at("watch").as_int64() == 1; });
  if (watching) put_sa("apps", "via-proxy", "id-p");
  // Bounded: the event ends the watch, else the stop flag after 10 s.
  eventually([&] { return stop.load(); });
  stop = true;
  t.join();
  ASSERT_TRUE(watching) << error;
  EXPECT_EQ(seen, std::vector<std::string>{"apps/via-proxy"}) << error;
  auto log = read_file(dir + "/proxy.log");
  std::string connect = "CONNECT apiserver.test:" + std::to_string(api->port());
  // One tunnel for the list, one for the watch.
  std::size_t tunnels = 0;
  for (auto at = log.find(connect); at != std::string::npos; at = log.find(connect, at + 1)) ++tunnels;
  EXPECT_EQ(tunnels, 2u) << log;
}

TEST_F(StandInApiServer, InClusterTokenIsReReadAsItRotates) {
  std::string account = dir + "/serviceaccount";
  std::filesystem::create_directory(account);
  std::filesystem::copy_file(dir + "/ca.crt", account + "/ca.crt");
  write_file(account + "/token", "first-token\n");
  write_file(dir + "/expected-token", "first-token");
  start({"--token-file", dir + "/expected-token"});
  setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", std::to_string(api->port()).c_str(), 1);
  auto config = kube::in_cluster_config(account);
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
  config.token_reload = std::chrono::milliseconds(100);
  kube::ApiClient client(config);
  std::string error;
  ASSERT_TRUE(client.version(&error)) << error;

  // The kubelet rotates the token; the API server accepts only the new one from now on.
  write_file(account + "/token", "second-token\n");
  write_file(dir + "/expected-token", "second-token");
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  EXPECT_TRUE(client.version(&error)) << error;
  EXPECT_EQ(client.bearer_token(), "second-token");
}

TEST_F(StandInApiServer, CacheFollowsCreateChangeDeleteAndRelistsOnGone) {
  start({"--token", "t0ken", "--seed-count", "3", "--bookmark-seconds", "0.2"});
  kube::ApiClient client(token_config());
  metrics::Registry registry;
  kube::CacheOptions options;
  options.min_backoff = std::chrono::milliseconds(50);
  options.page_size = 2;
  kube::ServiceAccountCache cache(client, &registry, options);
  cache.start();
  ASSERT_TRUE(eventually([&] { return cache.synced(); }));
  EXPECT_EQ(cache.size(), 3u);
  ASSERT_TRUE(cache.cached("ns-1", "filler-1"));

  put_sa("apps", "late", "id-1");
  ASSERT_TRUE(eventually([&] { return cache.cached("apps", "late") != nullptr; }));
  EXPECT_EQ(*cache.cached("apps", "late")->annotation("azure.workload.identity/client-id"), "id-1");
  put_sa("apps", "late", "id-2");
  EXPECT_TRUE(eventually([&] {
    auto sa = cache.cached("apps", "late");
    return sa && *sa->annotation("azure.workload.identity/client-id") == "id-2";
  }));
  ASSERT_EQ(control("DELETE", "/__test__/serviceaccounts/apps/late").response.status, 200);
  EXPECT_TRUE(eventually([&] { return cache.cached("apps", "late") == nullptr; }));
  EXPECT_EQ(stats().at("get").as_int64(), 0) << "the watch, not GETs, must keep the cache current";

  // History compacted: resuming the watch is 410 Gone, so the cache lists again and carries on.
  auto lists_before = stats().at("list").as_int64();
  ASSERT_EQ(control("POST", "/__test__/compact").response.status, 200);
  put_sa("apps", "after-compaction", "id-3");
  EXPECT_TRUE(eventually([&] { return cache.cached("apps", "after-compaction") != nullptr; }));
  EXPECT_GT(stats().at("list").as_int64(), lists_before);
  EXPECT_NE(registry.render().find("reason=\"gone\""), std::string::npos);

  // A miss falls back to one GET, and the answer is remembered.
  cache.stop();
  put_sa("apps", "unseen", "id-4");
  EXPECT_EQ(cache.cached("apps", "unseen"), nullptr);
  auto r = cache.fetch("apps", "unseen");
  ASSERT_TRUE(r.sa) << r.error;
  EXPECT_NE(cache.cached("apps", "unseen"), nullptr);
  EXPECT_TRUE(cache.fetch("apps", "never").not_found);
}

TEST_F(StandInApiServer, CacheSyncsOnceTheServerComesUpAndSurvivesOutages) {
  int port = free_port();
  auto c = token_config_for(port);
  kube::ApiClient client(c);
  kube::CacheOptions options;
  options.min_backoff = std::chrono::milliseconds(50);
  options.max_backoff = std::chrono::milliseconds(400);
  kube::ServiceAccountCache cache(client, nullptr, options);
  cache.start();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(cache.synced());
  EXPECT_NE(cache.last_error().find("cannot reach"), std::string::npos) << cache.last_error();

  api = std::make_unique<FakeApiServer>(dir, std::vector<std::string>{"--token", "t0ken", "--seed-count", "2"}, port);
  ASSERT_TRUE(eventually([&] { return cache.synced(); }));
  api.reset();  // down again: what is cached stays served
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_NE(cache.cached("ns-1", "filler-1"), nullptr);
  api = std::make_unique<FakeApiServer>(dir, std::vector<std::string>{"--token", "t0ken", "--seed-count", "2"}, port);
  put_sa("apps", "after-restart", "x");
  EXPECT_TRUE(eventually([&] { return cache.cached("apps", "after-restart") != nullptr; }, std::chrono::seconds(15)));
}

// A watch that worked and then broke off (a cut connection, a crashing API server) is opened again at once: the
// backoff that failures before it grew is not waited again, or every update made meanwhile would wait seconds.
TEST_F(StandInApiServer, CacheWatchesAgainAtOnceAfterAWorkingWatchBreaksOff) {
  int port = free_port();
  std::vector<std::string> args{"--token", "t0ken", "--bookmark-seconds", "100"};
  api = std::make_unique<FakeApiServer>(dir, args, port);
  kube::ApiClient client(token_config_for(port));
  kube::CacheOptions options;
  options.min_backoff = std::chrono::milliseconds(20);
  options.max_backoff = std::chrono::milliseconds(4000);
  kube::ServiceAccountCache cache(client, nullptr, options);
  cache.start();
  ASSERT_TRUE(eventually([&] { return cache.synced(); }));
  api.reset();  // 6 s down: the watch's retries back off towards 4 s
  std::this_thread::sleep_for(std::chrono::seconds(6));
  api = std::make_unique<FakeApiServer>(dir, args, port);
  put_sa("apps", "while-working", "a");
  ASSERT_TRUE(eventually([&] { return cache.cached("apps", "while-working") != nullptr; }, std::chrono::seconds(15)));

  ASSERT_EQ(control("POST", "/__test__/break-watches").response.status, 200);
  auto broke = std::chrono::steady_clock::now();
  put_sa("apps", "after-break", "b");
  ASSERT_TRUE(eventually([&] { return cache.cached("apps", "after-break") != nullptr; }, std::chrono::seconds(15)));
  auto seen_after = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - broke);
  EXPECT_LT(seen_after.count(), 1500) << "the watch was opened again only after the grown backoff";
  EXPECT_EQ(stats().at("list").as_int64(), 0) << "resumed from its resourceVersion, without a list";
}

// A GET's answer that the watch has overtaken (the account deleted, or listed again, while the answer was on its
// way) is not remembered: it would keep a deleted account in the cache, admitting its pods with its old identity.
TEST_F(StandInApiServer, CacheDoesNotRememberAGetAnswerTheWatchOvertook) {
  start({"--token", "t0ken", "--get-delay", "1"});
  kube::ApiClient client(token_config());
  kube::CacheOptions options;
  options.min_backoff = std::chrono::milliseconds(20);
  kube::ServiceAccountCache cache(client, nullptr, options);
  cache.start();
  ASSERT_TRUE(eventually([&] { return cache.synced(); }));
  put_sa("apps", "short-lived", "a");
  kube::FetchResult fetched;
  std::thread admission([&] { fetched = cache.fetch("apps", "short-lived"); });  // read now, answered in 1 s
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_EQ(control("DELETE", "/__test__/serviceaccounts/apps/short-lived").response.status, 200);
  admission.join();
  ASSERT_TRUE(fetched.sa) << fetched.error;  // this admission saw the account as it was when it asked
  EXPECT_EQ(cache.cached("apps", "short-lived"), nullptr) << "a deleted account came back from a late GET answer";
  cache.stop();
  put_sa("apps", "unwatched", "b");
  ASSERT_TRUE(cache.fetch("apps", "unwatched").sa);
  EXPECT_NE(cache.cached("apps", "unwatched"), nullptr) << "an answer nothing overtook is remembered";
}

}  // namespace
