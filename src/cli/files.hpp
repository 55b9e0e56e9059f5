#pragma once
// The CLI's file input and output: whole files in, whole files out (written to a temporary name and renamed, so a
// reviewer never sees half a manifest).
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace azwi::cli {

// Throws std::runtime_error naming the path and the reason.
std::string read_text_file(const std::filesystem::path& path);
void write_text_file(const std::filesystem::path& path, std::string_view content);

}  // namespace azwi::cli
