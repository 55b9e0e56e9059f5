#include "netredirect/command.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace azwi::netredirect {
namespace {

using Clock = std::chrono::steady_clock;

struct Fd {
  int fd = -1;
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

bool make_pipe(Fd& read_end, Fd& write_end) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return false;
  read_end.fd = p[0];
  write_end.fd = p[1];
  return true;
}

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

// Reads what is available; returns false at end of stream or on error.
bool drain(int fd, std::string& into, std::size_t limit) {
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      std::size_t room = into.size() < limit ? limit - into.size() : 0;
      into.append(buf, std::min<std::size_t>(room, static_cast<std::size_t>(n)));
      continue;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
}

// Writing to a pipe whose reader has exited raises SIGPIPE; block it on this thread for the duration of the call and
// swallow a pending one afterwards, so the process-wide disposition is never touched.
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigemptyset(&pipe_set_);
    sigaddset(&pipe_set_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_set_, &old_);
  }
  ~SigpipeGuard() {
    if (!was_pending_) {
      timespec zero{0, 0};
      while (sigtimedwait(&pipe_set_, nullptr, &zero) == SIGPIPE) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

 private:
  sigset_t pipe_set_{};
  sigset_t old_{};
  bool was_pending_ = false;
};

}  // namespace

std::string CommandResult::describe() const {
  switch (status) {
    case Status::exited: return "exit code " + std::to_string(exit_code);
    case Status::signaled: return "killed by signal " + std::to_string(signal);
    case Status::timed_out: return "timed out";
    case Status::spawn_failed: return std::string("could not start: ") + std::strerror(spawn_errno);
  }
  return "unknown";
}

std::string format_argv(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    if (!a.empty() && a.find_first_of(" \t\n\"'\\$") == std::string::npos) {
      out += a;
      continue;
    }
    out += '\'';
    for (char c : a) {
      if (c == '\'') {
        out += "'\\''";
      } else {
        out += c;
      }
    }
    out += '\'';
  }
  return out;
}

CommandResult run_command(const std::vector<std::string>& argv, const CommandOptions& options) {
  CommandResult result;
  if (argv.empty()) {
    result.spawn_errno = EINVAL;
    return result;
  }
  SigpipeGuard sigpipe_guard;

  Fd in_r, in_w, out_r, out_w, err_r, err_w;
  if (!make_pipe(in_r, in_w) || !make_pipe(out_r, out_w) || !make_pipe(err_r, err_w)) {
    result.spawn_errno = errno;
    return result;
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_r.fd, 0);
  posix_spawn_file_actions_adddup2(&actions, out_w.fd, 1);
  posix_spawn_file_actions_adddup2(&actions, err_w.fd, 2);

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
  cargv.reserve(argv.size() + 1);
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);

  pid_t pid = -1;
  int rc = posix_spawnp(&pid, cargv[0], &actions, &attr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    result.spawn_errno = rc;
    return result;
  }
  in_r.reset();
  out_w.reset();
  err_w.reset();
  set_nonblocking(in_w.fd);
  set_nonblocking(out_r.fd);
  set_nonblocking(err_r.fd);

  std::size_t written = 0;
  if (options.input.empty()) in_w.reset();

  const auto deadline = Clock::now() + options.timeout;
  bool exited = false;
  int wstatus = 0;
  Clock::time_point exited_at{};
  for (;;) {
    if (!exited) {
      pid_t w = ::waitpid(pid, &wstatus, WNOHANG);
      if (w == pid) {
        exited = true;
        exited_at = Clock::now();
      }
    }
    const auto now = Clock::now();
    if (exited && out_r.fd < 0 && err_r.fd < 0) break;
    // A background grandchild may keep the pipes open after the program itself has exited.
    if (exited && now - exited_at > std::chrono::seconds(1)) break;
    if (now >= deadline) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      if (!exited) ::waitpid(pid, &wstatus, 0);
      result.status = CommandResult::Status::timed_out;
      return result;
    }

    pollfd fds[3];
    int n = 0;
    int in_idx = -1, out_idx = -1, err_idx = -1;
    if (in_w.fd >= 0) {
      fds[n] = {in_w.fd, POLLOUT, 0};
      in_idx = n++;
    }
    if (out_r.fd >= 0) {
      fds[n] = {out_r.fd, POLLIN, 0};
      out_idx = n++;
    }
    if (err_r.fd >= 0) {
      fds[n] = {err_r.fd, POLLIN, 0};
      err_idx = n++;
    }
    auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
    int wait_ms = static_cast<int>(std::max<long long>(1, std::min<long long>(remaining, n > 0 && !exited ? 50 : 10)));
    int ready = ::poll(fds, static_cast<nfds_t>(n), wait_ms);
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;

    if (in_idx >= 0 && fds[in_idx].revents) {
      if (fds[in_idx].revents & (POLLERR | POLLHUP)) {
        in_w.reset();
      } else {
        ssize_t w = ::write(in_w.fd, options.input.data() + written, options.input.size() - written);
        if (w > 0) written += static_cast<std::size_t>(w);
        if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == options.input.size()) in_w.reset();
      }
    }
    if (out_idx >= 0 && fds[out_idx].revents && !drain(out_r.fd, result.out, options.max_output)) out_r.reset();
    if (err_idx >= 0 && fds[err_idx].revents && !drain(err_r.fd, result.err, options.max_output)) err_r.reset();
  }
  if (!exited) {
    // Only reached when poll itself failed: do not leave the child behind.
    ::kill(-pid, SIGKILL);
    ::waitpid(pid, &wstatus, 0);
  }
  if (WIFEXITED(wstatus)) {
    result.status = CommandResult::Status::exited;
    result.exit_code = WEXITSTATUS(wstatus);
  } else {
    result.status = CommandResult::Status::signaled;
    result.signal = WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0;
  }
  return result;
}

}  // namespace azwi::netredirect
