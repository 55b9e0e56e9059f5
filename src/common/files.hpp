#pragma once
// Every file the project writes goes through here, so that a reader (another process, a restarted one, one that
// runs after a power cut) sees either the old content or the new, never half of it, and never a file more open than
// its mode says: the content is written to a temporary file in the same directory, created 0600 and given its mode
// only once written, fsync-ed, renamed over the old one, and the directory fsync-ed.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace azwi {

// Throws std::runtime_error naming the path and the system's reason.
void write_file_atomically(const std::filesystem::path& path, std::string_view content, unsigned mode = 0644);
// The whole file; nullopt when it cannot be read, errno then saying why.
std::optional<std::string> read_file(const std::filesystem::path& path);

struct FileContent {
  std::string name;  // a plain file name, no '/'
  std::string content;
  unsigned mode = 0644;
};

// Replaces a set of files in `dir` together, as the kubelet updates a Secret volume: the files live in a fresh
// dir/..<timestamp> directory, dir/..data links to it and each dir/<name> links to ..data/<name>. Renaming a new
// ..data link over the old one switches every file at once, so a reader that opens dir/<name> for two names (a
// certificate and its key) sent by one call never mixes one from an earlier call with one from this call, unless the
// switch falls between its two opens (then it sees a mismatched pair and should read again). A regular file of an
// earlier layout at dir/<name> is replaced by the link. Returns false (and writes nothing) when every file already has
// that content and mode. Throws std::runtime_error naming the path and the system's reason.
bool write_files_together(const std::filesystem::path& dir, const std::vector<FileContent>& files);

// One version of a file, told apart from the next without reading it, for the readers that poll a file for changes
// (the TLS reloader, the Asio client's trust store and client certificate, the emulator's key ring): the inode the
// path leads to (links followed), its size, and its modification and status-change times. A rewrite in place, a
// replacement by rename or by a switched link (a Secret volume's ..data) and a chmod each make a new stamp.
struct FileStamp {
  std::uint64_t device = 0, inode = 0;
  std::int64_t size = 0;
  std::int64_t modified_ns = 0, changed_ns = 0;
  bool operator==(const FileStamp&) const = default;
};
// nullopt when the path leads to nothing that can be looked at.
std::optional<FileStamp> file_stamp(const std::filesystem::path& path);

}  // namespace azwi
