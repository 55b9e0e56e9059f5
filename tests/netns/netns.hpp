#pragma once
// Test harness for network namespaces: each Netns is a fresh, uniquely named namespace (azwi-<tag>-<pid>-<n>) with
// loopback up, deleted again when the object goes away, also when the test fails. Commands run inside it through
// `ip netns exec`, optionally as another UID or without NET_ADMIN, always with a bounded run time. Namespaces left
// behind by a test process that was killed outright are removed by the next Netns created on the machine.
//
// Typical use:
//   AZWI_REQUIRE_NETNS();
//   azwi::netns::Netns node("node"), pod("pod");
//   azwi::netns::create_veth_pair(node, "veth-node", "10.77.0.1/24", pod, "veth-pod", "10.77.0.2/24");
//   auto server = node.spawn({"/usr/bin/python3", "-m", "http.server", "--bind", "10.77.0.1", "8080"});
//   ASSERT_TRUE(node.wait_for_listen(8080, 5s));
//   auto r = pod.exec({"curl", "-sS", "http://10.77.0.1:8080/"}, azwi::netns::as_user(1000));
#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "netredirect/command.hpp"

namespace azwi::netns {

using CommandResult = netredirect::CommandResult;

// Empty when namespace tests can run here (root, `ip` installed, a namespace can be created); otherwise why not.
// Computed once per process.
const std::string& unavailable_reason();

// Skips the current GoogleTest test, with the reason, when namespaces are unavailable.
#define AZWI_REQUIRE_NETNS()                                                   \
  do {                                                                         \
    if (const std::string& azwi_why = ::azwi::netns::unavailable_reason();     \
        !azwi_why.empty())                                                     \
      GTEST_SKIP() << "network namespace test skipped: " << azwi_why;          \
  } while (0)

struct ExecOptions {
  std::optional<uid_t> uid;  // run as this UID (and gid, unless set), with no supplementary groups
  std::optional<gid_t> gid;
  bool drop_net_admin = false;  // remove CAP_NET_ADMIN (bounding and inheritable sets) before running
  std::vector<std::pair<std::string, std::string>> env;  // extra environment variables
  std::string input;                                     // stdin (exec only)
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};  // exec only

  // Chainable setters: ExecOptions().as_user(1000).with_env("K", "V").
  ExecOptions& as_user(uid_t u, std::optional<gid_t> g = std::nullopt) {
    uid = u;
    gid = g;
    return *this;
  }
  ExecOptions& without_net_admin() {
    drop_net_admin = true;
    return *this;
  }
  ExecOptions& with_env(std::string name, std::string value) {
    env.emplace_back(std::move(name), std::move(value));
    return *this;
  }
  ExecOptions& with_input(std::string text) {
    input = std::move(text);
    return *this;
  }
  ExecOptions& with_timeout(std::chrono::milliseconds t) {
    timeout = t;
    return *this;
  }
};

inline ExecOptions as_user(uid_t uid, std::optional<gid_t> gid = std::nullopt) { return ExecOptions().as_user(uid, gid); }

// A background process inside a namespace. Output (stdout and stderr) goes to a log file.
class Process {
 public:
  Process(pid_t pid, std::string log_path, std::string description);
  ~Process();  // stop()
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  // Exit code (128+signal when killed) once it has exited, nullopt if still running after `timeout`.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  // SIGTERM to its process group, SIGKILL after `grace`; reaps it. Safe to call twice.
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(2));
  std::string output() const;
  const std::string& description() const { return description_; }

 private:
  pid_t pid_;
  std::optional<int> status_;
  std::string log_path_;
  std::string description_;
};

class Netns {
 public:
  // Creates azwi-<tag>-<pid>-<n> and brings its loopback up. Throws std::runtime_error when that fails.
  explicit Netns(const std::string& tag = "t");
  // Stops processes started with spawn(), kills anything else still inside, deletes the namespace (and with it any
  // veth end it holds) and the scratch directory.
  ~Netns();
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;

  const std::string& name() const { return name_; }
  // A scratch directory (mode 0755, so other UIDs can read it), removed with the namespace.
  const std::string& dir() const { return dir_; }

  // The argv that runs `argv` inside this namespace with the options (uid, capabilities, environment).
  std::vector<std::string> wrap(const std::vector<std::string>& argv, const ExecOptions& options = {}) const;
  CommandResult exec(const std::vector<std::string>& argv, const ExecOptions& options = {}) const;
  // exec that must succeed: returns stdout, throws std::runtime_error naming the command and its stderr.
  std::string check(const std::vector<std::string>& argv, const ExecOptions& options = {}) const;
  // Starts a background process; it is stopped when the Process or this Netns goes away, whichever is first.
  std::shared_ptr<Process> spawn(const std::vector<std::string>& argv, const ExecOptions& options = {});

  // Adds an address (CIDR) to an interface inside the namespace, e.g. add_address("lo", "169.254.169.254/32").
  void add_address(const std::string& dev, const std::string& cidr) const;
  void add_default_route(const std::string& via) const;
  // Waits until a TCP socket listens on `port` inside the namespace (any address); false after `timeout`.
  bool wait_for_listen(int port, std::chrono::milliseconds timeout) const;
  // Serves the files of `dir` over HTTP with python3's http.server, bound to ip:port; returns once it listens.
  std::shared_ptr<Process> serve_directory(const std::string& dir, const std::string& ip, int port,
                                           const ExecOptions& options = {});

 private:
  std::string name_;
  std::string dir_;
  std::vector<std::weak_ptr<Process>> processes_;
  int spawn_count_ = 0;
};

// A veth pair between two namespaces, each end with an address (CIDR) and up. Interface names are at most 15
// characters. The pair disappears when either namespace is deleted.
void create_veth_pair(const Netns& a, const std::string& a_dev, const std::string& a_cidr, const Netns& b,
                      const std::string& b_dev, const std::string& b_cidr);

// Deletes namespaces named azwi-<tag>-<pid>-<n> whose creating process no longer exists (left by a killed test
// run), and their scratch directories. The first Netns of each process calls it.
void remove_stale_namespaces();

// Writes a file (creating directories as needed) readable by every UID.
void write_file(const std::string& path, const std::string& content);

}  // namespace azwi::netns
