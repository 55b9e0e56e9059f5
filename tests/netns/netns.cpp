#include "netns.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace azwi::netns {
namespace {

using namespace std::chrono_literals;
using netredirect::CommandOptions;
using netredirect::format_argv;
using netredirect::run_command;

constexpr const char* kNetnsDir = "/run/netns/";

// --- Last-resort cleanup when the test process dies from a signal ----------------------------------------------
// Destructors do not run then, so a signal handler kills the spawned process groups and unmounts/unlinks the
// namespace files with plain system calls (async-signal-safe). SIGKILL cannot be caught; remove_stale_namespaces()
// covers that case on the next run.
constexpr int kMaxNamespaces = 64;
constexpr int kMaxProcesses = 256;
struct NamespaceSlot {
  std::atomic<bool> used{false};
  char path[128]{};
};
NamespaceSlot g_namespaces[kMaxNamespaces];
std::atomic<pid_t> g_process_groups[kMaxProcesses];

constexpr int kCaughtSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL};
struct sigaction g_previous[sizeof kCaughtSignals / sizeof kCaughtSignals[0]];

void emergency_cleanup(int sig) {
  for (auto& pg : g_process_groups) {
    pid_t p = pg.load();
    if (p > 0) ::kill(-p, SIGKILL);
  }
  for (auto& slot : g_namespaces) {
    if (!slot.used.load()) continue;
    ::umount2(slot.path, MNT_DETACH);
    ::unlink(slot.path);
  }
  for (std::size_t i = 0; i < sizeof kCaughtSignals / sizeof kCaughtSignals[0]; ++i) {
    if (kCaughtSignals[i] == sig) {
      ::sigaction(sig, &g_previous[i], nullptr);
      break;
    }
  }
  ::raise(sig);
}

void install_signal_handlers_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    for (std::size_t i = 0; i < sizeof kCaughtSignals / sizeof kCaughtSignals[0]; ++i) {
      struct sigaction sa {};
      sa.sa_handler = emergency_cleanup;
      sigemptyset(&sa.sa_mask);
      sa.sa_flags = SA_RESETHAND;
      ::sigaction(kCaughtSignals[i], &sa, &g_previous[i]);
    }
  });
}

std::mutex g_registry_mutex;

int register_namespace(const std::string& name) {
  std::string path = kNetnsDir + name;
  std::lock_guard lock(g_registry_mutex);
  for (int i = 0; i < kMaxNamespaces; ++i) {
    if (g_namespaces[i].used.load()) continue;
    // The path is complete before the slot is marked used, so the signal handler never sees half a name.
    std::snprintf(g_namespaces[i].path, sizeof g_namespaces[i].path, "%s", path.c_str());
    g_namespaces[i].used.store(true);
    return i;
  }
  return -1;
}

void unregister_namespace(const std::string& name) {
  std::string path = kNetnsDir + name;
  std::lock_guard lock(g_registry_mutex);
  for (auto& slot : g_namespaces)
    if (slot.used.load() && path == slot.path) slot.used.store(false);
}

void register_process(pid_t pgid) {
  for (auto& pg : g_process_groups) {
    pid_t expected = 0;
    if (pg.compare_exchange_strong(expected, pgid)) return;
  }
}

void unregister_process(pid_t pgid) {
  for (auto& pg : g_process_groups) {
    pid_t expected = pgid;
    if (pg.compare_exchange_strong(expected, 0)) return;
  }
}

// ------------------------------------------------------------------------------------------------------------------

CommandResult run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout = 20s) {
  CommandOptions o;
  o.timeout = timeout;
  return run_command(argv, o);
}

void run_or_throw(const std::vector<std::string>& argv) {
  CommandResult r = run(argv);
  if (!r.ok()) throw std::runtime_error(format_argv(argv) + ": " + r.describe() + ": " + r.err);
}

void kill_everything_inside(const std::string& name) {
  CommandResult r = run({"ip", "netns", "pids", name}, 10s);
  std::istringstream in(r.out);
  pid_t pid;
  while (in >> pid)
    if (pid > 1) ::kill(pid, SIGKILL);
}

bool delete_namespace(const std::string& name) {
  kill_everything_inside(name);
  for (int attempt = 0; attempt < 5; ++attempt) {
    CommandResult r = run({"ip", "netns", "del", name}, 10s);
    if (r.ok()) return true;
    if (!std::filesystem::exists(kNetnsDir + name)) return true;
    std::this_thread::sleep_for(100ms);
  }
  // Fall back to what `ip netns del` does, so the name never lingers.
  std::string path = kNetnsDir + name;
  ::umount2(path.c_str(), MNT_DETACH);
  return ::unlink(path.c_str()) == 0 || errno == ENOENT;
}

std::string python3() { return ::access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3"; }

std::atomic<int> g_counter{0};

}  // namespace

const std::string& unavailable_reason() {
  static const std::string reason = [] () -> std::string {
    if (::geteuid() != 0) return "needs root to create network namespaces (CI runs the tests as root)";
    CommandResult v = run({"ip", "-V"}, 10s);
    if (!v.ok()) return "the `ip` program (Debian package iproute2) is not available: " + v.describe();
    std::string probe = "azwi-probe-" + std::to_string(::getpid()) + "-0";
    CommandResult add = run({"ip", "netns", "add", probe}, 10s);
    if (!add.ok()) return "cannot create a network namespace (" + add.describe() + "): " + add.err;
    delete_namespace(probe);
    return "";
  }();
  return reason;
}

namespace {
// For "azwi-<tag>-<pid>-<n>": whether <pid> is a process that no longer exists.
bool owner_is_gone(const std::string& name) {
  if (name.rfind("azwi-", 0) != 0) return false;
  auto last = name.rfind('-');
  if (last == std::string::npos || last == 0) return false;
  auto before = name.rfind('-', last - 1);
  if (before == std::string::npos) return false;
  std::string pid_text = name.substr(before + 1, last - before - 1);
  std::string n_text = name.substr(last + 1);
  for (const auto* t : {&pid_text, &n_text})
    if (t->empty() || t->size() > 9 || t->find_first_not_of("0123456789") != std::string::npos) return false;
  return ::kill(static_cast<pid_t>(std::stol(pid_text)), 0) != 0 && errno == ESRCH;
}

std::vector<std::string> entries(const char* dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir)) {
    while (dirent* e = ::readdir(d)) out.emplace_back(e->d_name);
    ::closedir(d);
  }
  return out;
}
}  // namespace

void remove_stale_namespaces() {
  for (const auto& name : entries(kNetnsDir))
    if (owner_is_gone(name)) delete_namespace(name);
  // Scratch directories are /tmp/<namespace name>-XXXXXX.
  for (const auto& name : entries("/tmp")) {
    auto dash = name.rfind('-');
    if (dash == std::string::npos || name.size() - dash != 7) continue;
    if (!owner_is_gone(name.substr(0, dash))) continue;
    std::error_code ec;
    std::filesystem::remove_all("/tmp/" + name, ec);
  }
}

void write_file(const std::string& path, const std::string& content) {
  std::filesystem::path p(path);
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  if (!out) throw std::runtime_error("cannot write " + path);
  ::chmod(path.c_str(), 0644);
}

// --- Process ------------------------------------------------------------------------------------------------------

Process::Process(pid_t pid, std::string log_path, std::string description)
    : pid_(pid), log_path_(std::move(log_path)), description_(std::move(description)) {}

Process::~Process() { stop(); }

bool Process::running() { return !wait(0ms).has_value(); }

std::optional<int> Process::wait(std::chrono::milliseconds timeout) {
  if (status_) return status_;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int ws = 0;
    pid_t r = ::waitpid(pid_, &ws, WNOHANG);
    if (r == pid_) {
      status_ = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + (WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
      unregister_process(pid_);
      return status_;
    }
    if (r < 0 && errno != EINTR) {
      status_ = -1;
      unregister_process(pid_);
      return status_;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(10ms);
  }
}

void Process::stop(std::chrono::milliseconds grace) {
  if (status_) return;
  ::kill(-pid_, SIGTERM);
  if (wait(grace)) return;
  ::kill(-pid_, SIGKILL);
  wait(10s);
}

std::string Process::output() const {
  std::ifstream in(log_path_, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// --- Netns --------------------------------------------------------------------------------------------------------

Netns::Netns(const std::string& tag) {
  install_signal_handlers_once();
  static std::once_flag swept;
  std::call_once(swept, remove_stale_namespaces);

  name_ = "azwi-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(++g_counter);
  if (register_namespace(name_) < 0) throw std::runtime_error("too many live test namespaces in one process");
  CommandResult add = run({"ip", "netns", "add", name_});
  if (!add.ok()) {
    unregister_namespace(name_);
    throw std::runtime_error("ip netns add " + name_ + ": " + add.describe() + ": " + add.err);
  }
  try {
    std::string templ = "/tmp/" + name_ + "-XXXXXX";
    if (!::mkdtemp(templ.data())) throw std::runtime_error("mkdtemp: " + std::string(std::strerror(errno)));
    dir_ = templ;
    ::chmod(dir_.c_str(), 0755);
    run_or_throw({"ip", "-n", name_, "link", "set", "lo", "up"});
  } catch (...) {
    delete_namespace(name_);
    unregister_namespace(name_);
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
    throw;
  }
}

Netns::~Netns() {
  for (auto& weak : processes_)
    if (auto p = weak.lock()) p->stop();
  delete_namespace(name_);
  unregister_namespace(name_);
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

std::vector<std::string> Netns::wrap(const std::vector<std::string>& argv, const ExecOptions& o) const {
  std::vector<std::string> out{"ip", "netns", "exec", name_};
  if (o.uid || o.gid || o.drop_net_admin) {
    out.push_back("setpriv");
    if (o.uid) out.push_back("--reuid=" + std::to_string(*o.uid));
    if (o.gid || o.uid) {
      out.push_back("--regid=" + std::to_string(o.gid ? *o.gid : static_cast<gid_t>(*o.uid)));
      out.push_back("--clear-groups");
    }
    if (o.drop_net_admin) {
      out.push_back("--inh-caps=-all");
      out.push_back("--bounding-set=-net_admin");
    }
    out.push_back("--");
  }
  if (!o.env.empty()) {
    out.push_back("env");
    for (const auto& [k, v] : o.env) out.push_back(k + "=" + v);
  }
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

CommandResult Netns::exec(const std::vector<std::string>& argv, const ExecOptions& o) const {
  CommandOptions co;
  co.input = o.input;
  co.timeout = o.timeout;
  return run_command(wrap(argv, o), co);
}

std::string Netns::check(const std::vector<std::string>& argv, const ExecOptions& o) const {
  CommandResult r = exec(argv, o);
  if (!r.ok())
    throw std::runtime_error("in " + name_ + ": " + format_argv(argv) + ": " + r.describe() + ": " + r.err);
  return r.out;
}

std::shared_ptr<Process> Netns::spawn(const std::vector<std::string>& argv, const ExecOptions& o) {
  std::string log_path = dir_ + "/process-" + std::to_string(++spawn_count_) + ".log";
  std::vector<std::string> full = wrap(argv, o);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t empty, defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  std::vector<char*> cargv;
  for (auto& a : full) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, cargv[0], &actions, &attr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw std::runtime_error("cannot start " + format_argv(full) + ": " + std::strerror(rc));
  register_process(pid);
  auto p = std::make_shared<Process>(pid, log_path, format_argv(argv));
  processes_.push_back(p);
  return p;
}

void Netns::add_address(const std::string& dev, const std::string& cidr) const {
  run_or_throw({"ip", "-n", name_, "addr", "add", cidr, "dev", dev});
}

void Netns::add_default_route(const std::string& via) const {
  run_or_throw({"ip", "-n", name_, "route", "add", "default", "via", via});
}

bool Netns::wait_for_listen(int port, std::chrono::milliseconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  const std::string filter = "sport = :" + std::to_string(port);
  do {
    CommandResult r = exec({"ss", "-Hltn", filter}, ExecOptions().with_timeout(5s));
    if (r.ok() && r.out.find("LISTEN") != std::string::npos) return true;
    std::this_thread::sleep_for(50ms);
  } while (std::chrono::steady_clock::now() < deadline);
  return false;
}

std::shared_ptr<Process> Netns::serve_directory(const std::string& dir, const std::string& ip, int port,
                                                const ExecOptions& o) {
  auto p = spawn({python3(), "-m", "http.server", "--bind", ip, "--directory", dir, std::to_string(port)}, o);
  if (!wait_for_listen(port, 10s)) {
    std::string out = p->output();
    p->stop();
    throw std::runtime_error("http.server on " + ip + ":" + std::to_string(port) + " in " + name_ +
                             " did not start: " + out);
  }
  return p;
}

void create_veth_pair(const Netns& a, const std::string& a_dev, const std::string& a_cidr, const Netns& b,
                      const std::string& b_dev, const std::string& b_cidr) {
  run_or_throw({"ip", "link", "add", a_dev, "netns", a.name(), "type", "veth", "peer", "name", b_dev, "netns",
                b.name()});
  a.add_address(a_dev, a_cidr);
  b.add_address(b_dev, b_cidr);
  run_or_throw({"ip", "-n", a.name(), "link", "set", a_dev, "up"});
  run_or_throw({"ip", "-n", b.name(), "link", "set", b_dev, "up"});
}

}  // namespace azwi::netns
