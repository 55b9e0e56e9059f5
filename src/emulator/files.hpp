#pragma once
// Small file helpers the state directory and the token writer share: atomic replacement (write a temporary file
// in the same directory, fsync, rename) so a reader never sees a half-written file, and an exclusive lock file
// so serve, mint-token and rotate-keys can share one state directory.
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace azwi::emulator {

// Throws std::runtime_error naming the path.
void write_file_atomically(const std::filesystem::path& path, std::string_view content, unsigned mode = 0644);
std::optional<std::string> read_file(const std::filesystem::path& path);

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
