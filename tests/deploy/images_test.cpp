// The container images, checked without Docker: the binaries deploy/build-static.sh builds (static, running, their
// sizes), what each image holds, and the proxy's and the webhook's exact image layouts run in an empty chroot as
// their USER: the proxy serving a real token from the emulator, the webhook admitting a pod with the stand-in API
// server as its cluster.
#include <elf.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "deploy/dockerfile.hpp"
#include "support/net.hpp"
#include "support/process.hpp"
#include "webhook/mutation.hpp"

namespace {

namespace fs = std::filesystem;
using azwi::deploytest::read_dockerfile;
const std::string kImages = IMAGES_DIR;  // OUT of tests/deploy/build_images.sh
const std::string kDocker = std::string(DEPLOY_DIR) + "/docker/";

struct Cmd {
  int code = -1;
  std::string out;
};

Cmd run(const std::string& cmd) {
  Cmd r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = ::pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// True when the ELF file asks for no program interpreter (no dynamic loader, no shared libraries).
bool is_static_elf(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  Elf64_Ehdr eh{};
  in.read(reinterpret_cast<char*>(&eh), sizeof eh);
  if (!in || std::string(reinterpret_cast<char*>(eh.e_ident), 4) != "\x7f" "ELF") return false;
  for (int i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph{};
    in.seekg(static_cast<std::streamoff>(eh.e_phoff + i * eh.e_phentsize));
    in.read(reinterpret_cast<char*>(&ph), sizeof ph);
    if (ph.p_type == PT_INTERP || ph.p_type == PT_DYNAMIC) return false;
  }
  return true;
}

std::string mib(std::uintmax_t bytes) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f MiB", bytes / 1048576.0);
  return b;
}

TEST(DeployImages, BinariesAreStaticAndRun) {
  for (std::string bin : {"azwi-proxy", "azwi-proxy-init", "azwi-webhook", "azwi-cni", "pause"}) {
    auto path = kImages + "/bin/" + bin;
    ASSERT_TRUE(fs::exists(path)) << path;
    EXPECT_TRUE(is_static_elf(path)) << bin << " is not statically linked";
    auto v = run(path + " --version");
    EXPECT_EQ(v.code, 0);
    EXPECT_EQ(v.out, bin + " " + AZWI_VERSION + "\n");
    auto size = fs::file_size(path);
    std::printf("size %s (static, stripped): %ju bytes = %s\n", bin.c_str(), size, mib(size).c_str());
    ::testing::Test::RecordProperty(bin + "_bytes", std::to_string(size));
  }
}

// The sidecar's resident set depends on cmd/azwi-proxy/hot-text.ld naming the code it runs up to its first token by
// archive, object and section. A rename (a library split, a function moved to another file) silently leaves those
// lines matching nothing, the code scattered again: after libazwi_http_core.a became libazwi_http.a, 217 of 1333
// lines matched nothing and the RSS after the first token rose from 4.3 to 5.0 MiB. The link map tells: under
// .text.azwi_hot, a pattern line followed by no input section matched nothing. Regenerate the list with
// bench/proxy/hot-text.sh.
TEST(DeployImages, ProxyHotCodeListStillNamesTheCodeTheLinkHas) {
  std::ifstream map(kImages + "/static/cmd/azwi-proxy/azwi-proxy.map");
  ASSERT_TRUE(map) << "no link map next to the static azwi-proxy";
  std::string line;
  while (std::getline(map, line) && line.rfind(".text.azwi_hot", 0) != 0) {
  }
  ASSERT_FALSE(map.eof()) << "the link map has no .text.azwi_hot output section";
  std::size_t patterns = 0;
  std::vector<std::string> unmatched;
  std::string pattern;
  bool matched = true;
  while (std::getline(map, line) && (line.empty() || line[0] == ' ')) {
    if (line.rfind(" *", 0) == 0 && line.rfind(" *fill*", 0) != 0) {
      if (!matched) unmatched.push_back(pattern);
      pattern = line;
      matched = false;
      ++patterns;
    } else if (line.rfind(" .", 0) == 0) {
      matched = true;
    }
  }
  if (!matched) unmatched.push_back(pattern);
  std::string first;
  for (std::size_t i = 0; i < unmatched.size() && i < 5; ++i) {
    first += '\n';
    first.append(unmatched[i], 0, 160);
  }
  EXPECT_GT(patterns, 500u);
  EXPECT_LE(unmatched.size() * 50, patterns)  // at most 2 %: a compiler's clone names may drift a little
      << unmatched.size() << " of " << patterns << " lines of cmd/azwi-proxy/hot-text.ld match nothing the link has; "
      << "regenerate it with bench/proxy/hot-text.sh. The first:" << first;
}

// The webhook's image is its static binary and a CA bundle on an empty base, run as the chart's non-root user.
TEST(DeployImages, WebhookImageIsTheStaticBinaryOnAnEmptyBase) {
  auto d = read_dockerfile(kDocker + "azwi-webhook.Dockerfile");
  EXPECT_EQ(d.base, "scratch");
  EXPECT_TRUE(d.run.empty()) << "an empty base has nothing to run: " << d.run;
  EXPECT_EQ(d.entrypoint, std::vector<std::string>{"/usr/local/bin/azwi-webhook"});
  std::set<std::pair<std::string, std::string>> copies(d.copies_from_build.begin(), d.copies_from_build.end());
  std::set<std::pair<std::string, std::string>> expected = {
      {"/out/bin/azwi-webhook", "/usr/local/bin/azwi-webhook"},
      {"/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/certs/ca-certificates.crt"}};
  EXPECT_EQ(copies, expected);
  EXPECT_EQ(d.env["SSL_CERT_FILE"], "/etc/ssl/certs/ca-certificates.crt");
  EXPECT_EQ(d.user, "65532:65532");
}

// proxy-init's image is an empty base with a root filesystem of Debian's iptables files (both backends) that
// deploy/images/iptables-rootfs.sh assembles in a stage of its own (deploy/images/build.sh runs the same script
// without Docker); tests/deploy/oci_images_test.py runs the built image with both backends.
TEST(DeployImages, ProxyInitImageShipsBothIptablesBackends) {
  auto d = read_dockerfile(kDocker + "azwi-proxy-init.Dockerfile");
  EXPECT_EQ(d.base, "scratch");
  EXPECT_TRUE(d.run.empty()) << "an empty base has nothing to run: " << d.run;
  auto text = azwi::test::read_file(kDocker + "azwi-proxy-init.Dockerfile");
  EXPECT_NE(text.find("FROM debian:bookworm AS iptables\n"), std::string::npos);
  EXPECT_NE(text.find("apt-get install -y --no-install-recommends iptables"), std::string::npos);
  EXPECT_NE(text.find("RUN deploy/images/iptables-rootfs.sh /rootfs\n"), std::string::npos);
  EXPECT_NE(text.find("COPY --from=iptables /rootfs/ /\n"), std::string::npos);
  auto files = run("dpkg -L iptables");
  ASSERT_EQ(files.code, 0) << files.out;
  for (const char* tool : {"iptables-nft-save", "iptables-nft-restore", "iptables-legacy-save",
                           "iptables-legacy-restore"})
    EXPECT_NE(files.out.find(std::string("/usr/sbin/") + tool + "\n"), std::string::npos) << tool;
  EXPECT_EQ(d.entrypoint, std::vector<std::string>{"/usr/local/bin/azwi-proxy-init"});
  EXPECT_NE(d.env["PATH"].find("/usr/sbin"), std::string::npos) << "azwi-proxy-init finds iptables through PATH";
  EXPECT_EQ(d.user, "0");
  ASSERT_EQ(d.copies_from_build.size(), 1u);
  EXPECT_EQ(d.copies_from_build[0], std::make_pair(std::string("/out/bin/azwi-proxy-init"), d.entrypoint[0]));
}

// azwi-cni's image is the static binary alone: the agent copies it onto the node, where the plugin uses the node's
// own iptables programs.
TEST(DeployImages, CniImageIsTheStaticBinaryRunAsTheNodeAgent) {
  auto d = read_dockerfile(kDocker + "azwi-cni.Dockerfile");
  EXPECT_EQ(d.base, "scratch");
  EXPECT_TRUE(d.run.empty()) << d.run;
  EXPECT_EQ(d.entrypoint, (std::vector<std::string>{"/usr/local/bin/azwi-cni", "install"}));
  EXPECT_EQ(d.user, "0");
  ASSERT_EQ(d.copies_from_build.size(), 1u);
  EXPECT_EQ(d.copies_from_build[0], std::make_pair(std::string("/out/bin/azwi-cni"), d.entrypoint[0]));
}

// The proxy image is FROM scratch: this builds the same tree (every COPY of its last stage), runs its ENTRYPOINT
// in a chroot of it with only the image's ENV, as its USER, and asks for a token as an application would.
TEST(DeployImages, ProxyImageLayoutServesATokenAsItsUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (chroot)";
  auto d = read_dockerfile(kDocker + "azwi-proxy.Dockerfile");
  ASSERT_EQ(d.base, "scratch");
  azwi::test::TempDir work("azwi-image");
  auto root = work.file("root");
  fs::create_directories(root);

  // The emulator plays Entra ID; the pod reaches it by a DNS name that only the image's /etc/hosts knows.
  const std::string tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47", client = "5a4f1d0e-3c2b-4a1f-9e8d-7c6b5a4f3e2d";
  azwi::test::ChildProcess emulator({EMULATOR_BIN, "serve", "--listen", "127.0.0.1:0", "--state-dir",
                                     work.file("emu"), "--ready-file", work.file("emu.url"), "--tenant-id", tenant,
                                     "--client-id", client, "--san", "emulator.test"},
                                    {}, work.file("emulator.log"));
  auto base = azwi::test::wait_for_file(work.file("emu.url"), std::chrono::seconds(20));
  ASSERT_TRUE(base) << emulator.output();
  auto port = base->substr(base->rfind(':') + 1);
  port.pop_back();  // trailing slash

  for (const auto& [src, dst] : d.copies_from_build) {
    fs::create_directories(fs::path(root + dst).parent_path());
    if (src.rfind("/out/bin/", 0) == 0) {
      fs::copy_file(kImages + "/bin/" + src.substr(9), root + dst);
    } else if (src == "/etc/ssl/certs/ca-certificates.crt") {
      // Debian's bundle, as in the build stage, plus the emulator's CA (a private authority host's CA).
      std::ofstream out(root + dst);
      out << azwi::test::read_file(src) << azwi::test::read_file(work.file("emu") + "/ca.crt");
    } else {
      FAIL() << "the proxy image copies " << src << ", which this test does not know how to provide";
    }
  }
  // What the kubelet adds to every container: /etc/hosts and the projected token.
  fs::create_directories(root + "/etc");
  azwi::test::write_file(root + "/etc/hosts", "127.0.0.1 localhost emulator.test\n");
  // The token where the webhook's default (v1.6) layout puts it.
  const std::string token_file =
      std::string(azwi::webhook::kWiMountPath) + "/" + std::string(azwi::webhook::kWiTokenPath);
  fs::create_directories(fs::path(root + token_file).parent_path());
  auto mint = run(std::string(EMULATOR_BIN) + " mint-token --state-dir " + work.file("emu") + " --out " + root +
                  token_file);
  ASSERT_EQ(mint.code, 0) << mint.out;
  for (auto& p : fs::recursive_directory_iterator(root))
    if (p.is_directory()) fs::permissions(p.path(), fs::perms(0755));
  fs::permissions(root, fs::perms(0755));

  auto proxy_port = std::to_string(azwi::test::free_port());
  std::vector<std::string> argv = {"/usr/bin/env", "-i"};
  for (const auto& [k, v] : d.env) argv.push_back(k + "=" + v);
  for (std::string kv : {"AZURE_TENANT_ID=" + tenant, "AZURE_CLIENT_ID=" + client,
                         "AZURE_FEDERATED_TOKEN_FILE=" + token_file,
                         "AZURE_AUTHORITY_HOST=https://emulator.test:" + port + "/"})
    argv.push_back(kv);
  argv.insert(argv.end(), {"/usr/sbin/chroot", "--userspec=" + d.user, root});
  argv.insert(argv.end(), d.entrypoint.begin(), d.entrypoint.end());
  // The arguments the webhook gives the sidecar.
  argv.push_back("--proxy-port=" + proxy_port);
  argv.push_back("--log-format=text");
  azwi::test::ChildProcess proxy(argv, {}, work.file("proxy.log"));

  // The sidecar's postStart hook, exactly as the webhook writes it.
  auto probe = run("/usr/bin/env -i /usr/sbin/chroot --userspec=" + d.user + " " + root + " " +
                   std::string(azwi::webhook::kProxyBinary) + " --probe --proxy-port=" + proxy_port);
  ASSERT_EQ(probe.code, 0) << probe.out << proxy.output();
  auto status = azwi::test::read_file("/proc/" + std::to_string(proxy.pid()) + "/status");
  auto uid = std::to_string(azwi::webhook::kProxyUid);
  EXPECT_NE(status.find("\nUid:\t" + uid + "\t" + uid), std::string::npos) << status;

  auto answer = run("curl -s --max-time 20 -H Metadata:true 'http://127.0.0.1:" + proxy_port +
                    "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://vault.azure.net'");
  EXPECT_NE(answer.out.find("\"access_token\":\"ey"), std::string::npos) << answer.out << "\n" << proxy.output();
  EXPECT_NE(answer.out.find("\"resource\":\"https://vault.azure.net\""), std::string::npos) << answer.out;
}

// The webhook image's exact tree (every COPY of its last stage) in an empty chroot, run as its USER with only the
// image's ENV and what the kubelet gives a pod (the service environment, the service account's token and ca.crt):
// it reaches the stand-in API server over TLS, fills its cache by list and watch, and admits a pod.
TEST(DeployImages, WebhookImageLayoutAdmitsAPodAsItsUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (chroot)";
  auto d = read_dockerfile(kDocker + "azwi-webhook.Dockerfile");
  azwi::test::TempDir work("azwi-webhook-image");
  auto root = work.file("root");
  fs::create_directories(root);
  auto pki = run("cd " + work.path() + " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
                 " -keyout ca.key -out ca.crt -days 1 -subj /CN=image-test-ca"
                 " && printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > san.ext"
                 " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout tls.key -out tls.csr"
                 " -subj /CN=localhost && openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial"
                 " -out tls.crt -days 1 -extfile san.ext");
  ASSERT_EQ(pki.code, 0) << pki.out;
  azwi::test::write_file(work.file("seed.json"),
                         R"([{"metadata":{"name":"app","namespace":"ns1","annotations":)"
                         R"({"azure.workload.identity/client-id":"11111111-2222-3333-4444-555555555555"}}}])");
  azwi::test::ChildProcess api({"/usr/bin/python3", FAKE_APISERVER, "--cert", work.file("tls.crt"), "--key",
                                work.file("tls.key"), "--token", "image-token", "--seed", work.file("seed.json")},
                               {}, work.file("apiserver.log"));
  ASSERT_TRUE(api.wait_for_output("listening on", std::chrono::seconds(20))) << api.output();
  auto out = api.output();
  auto api_port = std::to_string(std::stoi(out.substr(out.find("listening on ") + 13)));

  for (const auto& [src, dst] : d.copies_from_build) {
    fs::create_directories(fs::path(root + dst).parent_path());
    if (src.rfind("/out/bin/", 0) == 0) {
      fs::copy_file(kImages + "/bin/" + src.substr(9), root + dst);
    } else if (src == "/etc/ssl/certs/ca-certificates.crt") {
      fs::copy_file(src, root + dst);  // the build stage's Debian bundle
    } else {
      FAIL() << "the webhook image copies " << src << ", which this test does not know how to provide";
    }
  }
  // What the kubelet mounts: the service account's token and the cluster CA; and the serving certificate volume.
  std::string account = root + "/var/run/secrets/kubernetes.io/serviceaccount";
  fs::create_directories(account);
  azwi::test::write_file(account + "/token", "image-token");
  fs::copy_file(work.file("ca.crt"), account + "/ca.crt");
  fs::create_directories(root + "/certs");
  fs::copy_file(work.file("tls.crt"), root + "/certs/tls.crt");
  fs::copy_file(work.file("tls.key"), root + "/certs/tls.key");
  for (auto& p : fs::recursive_directory_iterator(root))
    fs::permissions(p.path(), p.is_directory() ? fs::perms(0755) : fs::perms(0644), fs::perm_options::add);
  fs::permissions(root, fs::perms(0755));

  auto port = std::to_string(azwi::test::free_port()), health = std::to_string(azwi::test::free_port()),
       metrics = std::to_string(azwi::test::free_port());
  std::vector<std::string> argv = {"/usr/bin/env", "-i"};
  for (const auto& [k, v] : d.env) argv.push_back(k + "=" + v);
  for (const auto& kv : std::vector<std::string>{"KUBERNETES_SERVICE_HOST=127.0.0.1", "KUBERNETES_SERVICE_PORT=" + api_port,
                                                "AZURE_TENANT_ID=image-tenant", "POD_NAMESPACE=azwi-system"})
    argv.push_back(kv);
  argv.insert(argv.end(), {"/usr/sbin/chroot", "--userspec=" + d.user, root});
  argv.insert(argv.end(), d.entrypoint.begin(), d.entrypoint.end());
  for (const auto& a : std::vector<std::string>{"--disable-cert-rotation", "--webhook-addr=127.0.0.1:" + port,
                                               "--health-addr=127.0.0.1:" + health,
                                               "--metrics-addr=127.0.0.1:" + metrics, "--log-format=text"})
    argv.push_back(a);
  azwi::test::ChildProcess webhook(argv, {}, work.file("webhook.log"));

  Cmd ready;
  for (int i = 0; i < 60 && ready.out != "200"; ++i) {
    ready = run("curl -s -o /dev/null -w '%{http_code}' --max-time 1 http://127.0.0.1:" + health + "/readyz");
    if (ready.out != "200") ::usleep(200'000);
  }
  ASSERT_EQ(ready.out, "200") << webhook.output() << api.output();
  auto status = azwi::test::read_file("/proc/" + std::to_string(webhook.pid()) + "/status");
  EXPECT_NE(status.find("\nUid:\t65532\t65532"), std::string::npos) << status;

  azwi::test::write_file(
      work.file("review.json"),
      R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"image-uid",)"
      R"("kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},)"
      R"("namespace":"ns1","operation":"CREATE","dryRun":false,"object":{"metadata":{"generateName":"app-",)"
      R"("labels":{"azure.workload.identity/use":"true"}},"spec":{"serviceAccountName":"app",)"
      R"("containers":[{"name":"app","image":"busybox"}]}}}})");
  auto answer = run("curl -s --max-time 10 --cacert " + work.file("ca.crt") +
                    " -H 'Content-Type: application/json' --data-binary @" + work.file("review.json") +
                    " https://localhost:" + port + "/mutate-v1-pod");
  EXPECT_NE(answer.out.find(R"("uid":"image-uid","allowed":true,"patchType":"JSONPatch")"), std::string::npos)
      << answer.out << "\n" << webhook.output();
}

}  // namespace
