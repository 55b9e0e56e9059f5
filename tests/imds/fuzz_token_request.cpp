// libFuzzer target: any request line and headers as the IMDS token route sees them. The first byte chooses the
// method and which headers are present; the rest is the target (path and query). The parser must never crash, and
// a request it accepts names a resource.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "imds/token_request.hpp"

using namespace azwi;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  unsigned flags = data[0];
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  // Bits 0-1: method; bit 2: a Metadata header (its value: the text after the first NUL, if any); bit 3:
  // X-Forwarded-For; bit 4: a default client id.
  static constexpr std::string_view methods[] = {"GET", "POST", "get", "PUT"};
  imds::RequestView view;
  view.method = methods[flags & 3];
  view.target = rest.substr(0, rest.find('\0'));
  if (flags & 4) view.metadata_header = rest.find('\0') == std::string_view::npos ? "true" : rest.substr(rest.find('\0') + 1);
  view.has_forwarded_for = flags & 8;
  (void)imds::is_token_path(view.target);
  auto parsed = imds::parse_token_request(view, flags & 16 ? "default-client" : "");
  if (auto* request = std::get_if<imds::TokenRequest>(&parsed); request && request->resource.empty()) std::abort();
  return 0;
}
