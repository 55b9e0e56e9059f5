#pragma once
// Test support shared by the kube and webhook integration tests: child processes, a throw-away PKI made with the
// openssl command, and the stand-in API server (fake_apiserver.py) as a real HTTPS process.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>

extern char** environ;

namespace azwi::testing {

inline std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

// Polls `ready` every 20 ms until it holds or `limit` passes.
inline bool eventually(const std::function<bool()>& ready, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (ready()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return ready();
}

inline std::string make_temp_dir(const std::string& stem) {
  std::string tmpl = std::filesystem::temp_directory_path().string() + "/" + stem + "-XXXXXX";
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

// A port that was free a moment ago (for servers that must come up later on a known port).
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

class Process {
 public:
  Process(std::vector<std::string> argv, std::map<std::string, std::string> env_overrides, std::string log_path,
          std::vector<std::string> env_removed = {})
      : log_path_(std::move(log_path)) {
    std::map<std::string, std::string> env;
    for (char** e = environ; *e; ++e) {
      std::string kv = *e;
      auto eq = kv.find('=');
      if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    for (const auto& k : env_removed) env.erase(k);
    for (const auto& [k, v] : env_overrides) env[k] = v;
    std::vector<std::string> env_strings;
    for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
    std::vector<char*> args, envp;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    for (auto& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // a test that crashes takes its servers with it
      int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      dup2(fd, 1);
      dup2(fd, 2);
      setpgid(0, 0);
      execve(args[0], args.data(), envp.data());
      _exit(127);
    }
  }
  ~Process() { stop(); }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  std::string log() const { return read_file(log_path_); }

  // SIGTERM, then SIGKILL after 5 s; returns the exit status (or -signal).
  int stop(int sig = SIGTERM) {
    if (pid_ <= 0) return status_;
    ::kill(pid_, sig);
    for (int i = 0; i < 250; ++i) {
      if (poll_exit()) return status_;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(pid_, SIGKILL);
    int st = 0;
    waitpid(pid_, &st, 0);
    pid_ = -1;
    status_ = -SIGKILL;
    return status_;
  }

  // Waits for the process to exit on its own (bounded); nullopt if it is still running.
  std::optional<int> wait_exit(std::chrono::milliseconds limit) {
    if (eventually([&] { return poll_exit(); }, limit)) return status_;
    return std::nullopt;
  }

  bool running() { return !poll_exit(); }

 private:
  bool poll_exit() {
    if (pid_ <= 0) return true;
    int st = 0;
    pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == 0) return false;
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
    pid_ = -1;
    return true;
  }
  std::string log_path_;
  pid_t pid_ = -1;
  int status_ = 0;
};

inline void run_or_throw(const std::string& cmd) {
  if (std::system((cmd + " >/dev/null 2>&1").c_str()) != 0) throw std::runtime_error("command failed: " + cmd);
}

// A CA and a certificate signed by it for localhost/127.0.0.1 (or the names in `san`), as PEM files in `dir`:
// ca.crt, ca.key, <name>.crt, <name>.key. Also a client certificate when asked.
inline void make_ca(const std::string& dir) {
  run_or_throw("cd " + dir + " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key"
               " -out ca.crt -days 2 -subj /CN=azwi-test-ca");
}

inline void make_cert(const std::string& dir, const std::string& name, const std::string& cn, bool client = false,
                      const std::string& san = "DNS:localhost,IP:127.0.0.1") {
  std::string ext = client ? "extendedKeyUsage=clientAuth" : "subjectAltName=" + san;
  write_file(dir + "/" + name + ".ext", ext + "\n");
  run_or_throw("cd " + dir + " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " + name +
               ".key.tmp -out " + name + ".csr -subj /CN=" + cn + " && openssl x509 -req -in " + name +
               ".csr -CA ca.crt -CAkey ca.key -CAcreateserial -out " + name + ".crt.tmp -days 2 -extfile " + name +
               ".ext && mv " + name + ".key.tmp " + name + ".key && mv " + name + ".crt.tmp " + name + ".crt");
}

// The stand-in API server as a child process, on `port` (0: any). When AZWI_API_CALLS_DIR is set (the webhook's
// integration tests, by CMake), it records the calls azwi's client makes into a file of its own there, for the RBAC
// drift test.
class FakeApiServer {
 public:
  FakeApiServer(const std::string& dir, std::vector<std::string> extra = {}, int port = 0)
      : process_(args(dir, std::move(extra), port), {}, dir + "/apiserver-" + std::to_string(port) + "-" +
                                                              std::to_string(counter()++) + ".log") {
    std::regex re("listening on ([0-9]+)");
    std::smatch m;
    bool up = eventually([&] {
      std::string log = process_.log();
      if (!std::regex_search(log, m, re)) return false;
      port_ = std::stoi(m[1]);
      return true;
    });
    if (!up) throw std::runtime_error("fake API server did not start: " + process_.log());
  }
  int port() const { return port_; }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }
  Process& process() { return process_; }

 private:
  static int& counter() {
    static int c = 0;
    return c;
  }
  static std::vector<std::string> args(const std::string& dir, std::vector<std::string> extra, int port) {
    std::vector<std::string> a = {"/usr/bin/python3", FAKE_APISERVER, "--cert", dir + "/server.crt", "--key",
                                  dir + "/server.key", "--port", std::to_string(port)};
    for (auto& e : extra) a.push_back(std::move(e));
    if (const char* calls = std::getenv("AZWI_API_CALLS_DIR"); calls && *calls) {
      std::filesystem::create_directories(calls);
      a.push_back("--record");
      a.push_back(std::string(calls) + "/" + std::to_string(::getpid()) + "-" + std::to_string(counter()) + ".jsonl");
    }
    return a;
  }
  Process process_;
  int port_ = 0;
};

// A kubeconfig whose cluster has `server` and the (indented) `cluster` lines, and whose user has the `user` lines.
inline std::string kubeconfig_with(const std::string& server, const std::string& cluster, const std::string& user) {
  return "apiVersion: v1\nkind: Config\ncurrent-context: test\ncontexts:\n- name: test\n  context:\n    cluster: c\n"
         "    user: u\nclusters:\n- name: c\n  cluster:\n    server: " + server + "\n" + cluster +
         "users:\n- name: u\n  user:\n" + user;
}

inline std::string kubeconfig_yaml(const std::string& server, const std::string& ca_file, const std::string& user) {
  return kubeconfig_with(server, "    certificate-authority: " + ca_file + "\n", user);
}

}  // namespace azwi::testing
