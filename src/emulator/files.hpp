#pragma once
// The state directory's exclusive lock file, so serve, mint-token and rotate-keys can share one state directory.
// Files are written with the project's atomic helper (common/files.hpp).
#include <filesystem>

#include "common/files.hpp"

namespace azwi::emulator {

// Holds flock(LOCK_EX) on a lock file for its lifetime.
class FileLock {
 public:
  explicit FileLock(const std::filesystem::path& path);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace azwi::emulator
