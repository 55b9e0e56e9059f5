#pragma once
// A child process for integration tests: started with an explicit environment, its stderr+stdout in a file,
// killed and reaped when the object goes away so that a failing test leaves nothing running.
#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace azwi::test {

class ChildProcess {
 public:
  // env: added to (or, with an empty value, removed from) this process's environment.
  ChildProcess(std::vector<std::string> argv, std::map<std::string, std::string> env, std::string log_path);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int signo);
  // The exit code (128+signal when killed), or nullopt if still running after timeout.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  bool running();
  std::string output() const;
  // Polls the output until it contains needle; false after timeout.
  bool wait_for_output(const std::string& needle, std::chrono::milliseconds timeout) const;
  const std::string& log_path() const { return log_path_; }

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::string log_path_;
};

// A fresh directory under /tmp, removed by the destructor.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix);
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& content);
// Polls until the file exists and is non-empty; returns its content or nullopt after timeout.
std::optional<std::string> wait_for_file(const std::string& path, std::chrono::milliseconds timeout);

}  // namespace azwi::test
