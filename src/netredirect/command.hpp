#pragma once
// Runs a program with an argv (no shell), feeds it stdin, captures stdout and stderr, and bounds its run time.
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace azwi::netredirect {

struct CommandResult {
  enum class Status { exited, signaled, timed_out, spawn_failed };
  Status status = Status::spawn_failed;
  int exit_code = -1;   // when exited
  int signal = 0;       // when signaled
  int spawn_errno = 0;  // when spawn_failed: ENOENT means the program is not installed / not in PATH
  std::string out;
  std::string err;

  bool ok() const { return status == Status::exited && exit_code == 0; }
  // "exit code 2", "killed by signal 9", "timed out", "could not start: No such file or directory".
  std::string describe() const;
};

struct CommandOptions {
  std::string input;                                  // written to the program's stdin, then stdin is closed
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
  std::size_t max_output = 16 * 1024 * 1024;          // per stream; more is dropped (the program still runs)
};

// The program is looked up in PATH. It runs in a process group of its own, which is killed (SIGKILL) when the
// timeout passes, so a hung command never hangs the caller. Safe to call from several threads.
CommandResult run_command(const std::vector<std::string>& argv, const CommandOptions& options = {});

// The argv as one line for logs and error messages (words with spaces or quotes are quoted).
std::string format_argv(const std::vector<std::string>& argv);

}  // namespace azwi::netredirect
