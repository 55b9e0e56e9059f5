#include "common/files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <stdexcept>

namespace azwi {
namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(std::string_view what, const fs::path& path, int err) {
  throw std::runtime_error(std::string(what) + " " + path.string() + ": " + std::strerror(err));
}

// A name no other writer in this or another process picks at the same time (O_EXCL settles the rest).
std::string unique_suffix() {
  static std::atomic<unsigned> counter{0};
  return std::to_string(::getpid()) + "-" + std::to_string(++counter);
}

// Makes a rename in `dir` durable: without it the new name may be lost in a crash although the content is on disk.
void sync_directory(const fs::path& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail("cannot open directory", dir, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0 && err != EINVAL) fail("cannot sync directory", dir, err);  // EINVAL: a file system without fsync
}

void replace(const fs::path& from, const fs::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    int err = errno;
    ::unlink(from.c_str());
    fail("cannot rename " + from.string() + " to", to, err);
  }
}

bool has_content(const fs::path& path, std::string_view content, unsigned mode) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || (st.st_mode & 07777) != mode) return false;
  auto text = read_file(path);
  return text && *text == content;
}

// "..2026_12_01_12_00_00.": the kubelet's spelling, so the layout reads the same as a Secret volume's.
std::string timestamp_prefix() {
  std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char b[32];
  std::strftime(b, sizeof b, "..%Y_%m_%d_%H_%M_%S.", &tm);
  return b;
}

}  // namespace

void write_file_atomically(const fs::path& path, std::string_view content, unsigned mode) {
  fs::path tmp = path;
  tmp += ".tmp-" + unique_suffix();
  // 0600 from the first byte: a key is never readable by others, not even while being written; the final mode
  // is set once the content is complete (fchmod, so the umask neither widens nor narrows it).
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) fail("cannot create", tmp, errno);
  auto abandon = [&](std::string_view what) {
    int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    fail(what, tmp, err);
  };
  const char* p = content.data();
  std::size_t left = content.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO;
      abandon("cannot write");
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::fchmod(fd, mode) != 0) abandon("cannot set the mode of");
  if (::fsync(fd) != 0) abandon("cannot sync");
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    fail("cannot close", tmp, err);
  }
  replace(tmp, path);
  sync_directory(path.parent_path());
}

std::optional<std::string> read_file(const fs::path& path) {
  // read(2), not an ifstream: a stream turns a read error (a directory: EISDIR) into an empty file.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string text;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      text.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0) {
      break;
    } else if (errno != EINTR) {
      int why = errno;
      ::close(fd);
      errno = why;
      return std::nullopt;
    }
  }
  ::close(fd);
  return text;
}

bool write_files_together(const fs::path& dir, const std::vector<FileContent>& files) {
  const fs::path data = dir / "..data";
  bool unchanged = true;
  for (const auto& f : files) {
    if (f.name.empty() || f.name.find('/') != std::string::npos || f.name.starts_with(".."))
      throw std::invalid_argument("\"" + f.name + "\" is not a plain file name");
    std::error_code ec;
    unchanged = unchanged && fs::is_symlink(dir / f.name, ec) && has_content(dir / f.name, f.content, f.mode);
  }
  if (unchanged) return false;

  fs::create_directories(dir);
  std::string pattern = (dir / (timestamp_prefix() + "XXXXXX")).string();
  if (!::mkdtemp(pattern.data())) fail("cannot create a directory in", dir, errno);
  const fs::path fresh(pattern);
  if (::chmod(fresh.c_str(), 0755) != 0) fail("cannot set the mode of", fresh, errno);
  for (const auto& f : files) write_file_atomically(fresh / f.name, f.content, f.mode);

  // The switch: one rename of a link.
  const fs::path link = dir / ("..data.tmp-" + unique_suffix());
  if (::symlink(fresh.filename().c_str(), link.c_str()) != 0) fail("cannot create the link", link, errno);
  replace(link, data);
  for (const auto& f : files) {
    const fs::path target = fs::path("..data") / f.name;
    std::error_code ec;
    if (fs::is_symlink(dir / f.name, ec) && fs::read_symlink(dir / f.name, ec) == target) continue;
    const fs::path name_link = dir / (f.name + ".tmp-" + unique_suffix());
    if (::symlink(target.c_str(), name_link.c_str()) != 0) fail("cannot create the link", name_link, errno);
    replace(name_link, dir / f.name);
  }
  sync_directory(dir);

  // Earlier generations, and any left by a writer that stopped half-way, go once nothing links to them.
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name.starts_with("..data.tmp-") ||
        (name.starts_with("..") && name != "..data" && entry.path() != fresh && !entry.is_symlink(ec) &&
         entry.is_directory(ec)))
      fs::remove_all(entry.path(), ec);
  }
  return true;
}

std::optional<FileStamp> file_stamp(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  auto ns = [](const timespec& t) { return std::int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec; };
  return FileStamp{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
                   static_cast<std::int64_t>(st.st_size), ns(st.st_mtim), ns(st.st_ctim)};
}

}  // namespace azwi
