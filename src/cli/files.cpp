#include "cli/files.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "common/files.hpp"

namespace azwi::cli {
namespace fs = std::filesystem;

std::string read_text_file(const fs::path& path) {
  auto text = read_file(path);
  if (!text) throw std::runtime_error("cannot read " + path.string() + ": " + std::strerror(errno));
  return std::move(*text);
}

void write_text_file(const fs::path& path, std::string_view content) {
  write_file_atomically(path, content, 0644);  // the project's one writer: temporary file, fsync, rename
}

}  // namespace azwi::cli
