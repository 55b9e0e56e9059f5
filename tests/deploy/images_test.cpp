// The container images, checked without Docker: the binaries deploy/build-static.sh builds (static where the
// Dockerfiles say so, running, their sizes), the packages the webhook image installs, and the proxy image's
// exact file layout run in an empty chroot as its USER, serving a real token from the emulator.
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

TEST(DeployImages, ProxyAndProxyInitAreStaticAndRun) {
  for (std::string bin : {"azwi-proxy", "azwi-proxy-init"}) {
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

TEST(DeployImages, WebhookNeedsOnlyLibrariesItsImageInstalls) {
  auto path = kImages + "/bin/azwi-webhook";
  auto v = run(path + " --version");
  EXPECT_EQ(v.code, 0);
  EXPECT_EQ(v.out, std::string("azwi-webhook ") + AZWI_VERSION + "\n");
  auto size = fs::file_size(path);
  std::printf("size azwi-webhook (dynamic, stripped): %ju bytes = %s\n", size, mib(size).c_str());
  auto d = read_dockerfile(kDocker + "azwi-webhook.Dockerfile");
  EXPECT_EQ(d.base, "debian:bookworm-slim");
  // Packages named on the image's apt-get line, plus what every Debian image has.
  std::set<std::string> installed = {"libc6", "libgcc-s1"};
  std::istringstream words(d.run.substr(d.run.find("--no-install-recommends") + 23));
  for (std::string w; words >> w && w != "&&";) installed.insert(w);
  // The direct dependencies (NEEDED entries), each resolved to the Debian package that ships it.
  auto needed = run("objdump -p " + path + " | awk '$1 == \"NEEDED\" {print $2}'");
  ASSERT_EQ(needed.code, 0) << needed.out;
  std::istringstream libs(needed.out);
  int count = 0;
  std::set<std::string> used = {"ca-certificates"};  // for the API server's and the image's trust store
  for (std::string lib; libs >> lib; ++count) {
    auto where = run("ldd " + path + " | awk '$1 == \"" + lib + "\" {print $3}'");
    auto file = where.out.substr(0, where.out.find('\n'));
    auto owner = run("dpkg-query -S " + fs::canonical(file).string() + " | cut -d: -f1 | head -1");
    if (owner.code != 0) owner = run("dpkg-query -S " + file + " | cut -d: -f1 | head -1");
    std::string pkg = owner.out.substr(0, owner.out.find('\n'));
    used.insert(pkg);
    bool ok = installed.count(pkg) > 0;
    for (const auto& p : installed) {  // or a dependency of an installed package (libssl3 of libcurl4)
      if (ok) break;
      auto deps = run("dpkg-query -W -f='${Depends}' " + p);
      ok = deps.code == 0 && deps.out.find(pkg) != std::string::npos;
    }
    EXPECT_TRUE(ok) << lib << " comes from " << pkg << ", which azwi-webhook.Dockerfile does not install";
  }
  EXPECT_GT(count, 0);
  for (const auto& p : installed)
    EXPECT_TRUE(used.count(p) || p == "libc6" || p == "libgcc-s1") << "the image installs " << p << " for nothing";
}

TEST(DeployImages, ProxyInitImageShipsBothIptablesBackends) {
  auto d = read_dockerfile(kDocker + "azwi-proxy-init.Dockerfile");
  EXPECT_NE(d.run.find(" iptables"), std::string::npos) << "the image must install Debian's iptables";
  auto files = run("dpkg -L iptables");
  ASSERT_EQ(files.code, 0) << files.out;
  for (const char* tool : {"iptables-nft-save", "iptables-nft-restore", "iptables-legacy-save",
                           "iptables-legacy-restore"})
    EXPECT_NE(files.out.find(std::string("/usr/sbin/") + tool + "\n"), std::string::npos) << tool;
  EXPECT_EQ(d.entrypoint, std::vector<std::string>{"/usr/local/bin/azwi-proxy-init"});
  ASSERT_EQ(d.copies_from_build.size(), 1u);
  EXPECT_EQ(d.copies_from_build[0], std::make_pair(std::string("/out/bin/azwi-proxy-init"), d.entrypoint[0]));
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
  std::string token_dir = std::string(azwi::webhook::kTokenMountPath);
  fs::create_directories(root + token_dir);
  auto mint = run(std::string(EMULATOR_BIN) + " mint-token --state-dir " + work.file("emu") + " --out " + root +
                  std::string(azwi::webhook::kTokenFile));
  ASSERT_EQ(mint.code, 0) << mint.out;
  for (auto& p : fs::recursive_directory_iterator(root))
    if (p.is_directory()) fs::permissions(p.path(), fs::perms(0755));
  fs::permissions(root, fs::perms(0755));

  auto proxy_port = std::to_string(azwi::test::free_port());
  std::vector<std::string> argv = {"/usr/bin/env", "-i"};
  for (const auto& [k, v] : d.env) argv.push_back(k + "=" + v);
  for (std::string kv : {"AZURE_TENANT_ID=" + tenant, "AZURE_CLIENT_ID=" + client,
                         "AZURE_FEDERATED_TOKEN_FILE=" + std::string(azwi::webhook::kTokenFile),
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

}  // namespace
