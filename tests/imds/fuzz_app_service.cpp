// libFuzzer target: any request as the App Service token route (/msi/token) sees it. The first byte chooses the
// method and whether X-IDENTITY-HEADER is sent; the header's value is the text after the first NUL. The parser must
// never crash; a request it accepts carried the right secret and names a resource; its errors render as JSON.
#include <boost/json/parse.hpp>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "imds/app_service.hpp"

using namespace azwi;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  unsigned flags = data[0];
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  static constexpr std::string_view methods[] = {"GET", "POST", "get", "HEAD"};
  static constexpr std::string_view secret = "the-pods-secret";
  imds::AppServiceRequestView view;
  view.method = methods[flags & 3];
  auto nul = rest.find('\0');
  view.target = rest.substr(0, nul);
  if (flags & 4) view.identity_header = nul == std::string_view::npos ? secret : rest.substr(nul + 1);
  (void)imds::is_app_service_path(view.target);
  auto parsed = imds::parse_app_service_request(view, secret, flags & 8 ? "default-client" : "");
  if (auto* request = std::get_if<imds::TokenRequest>(&parsed)) {
    if (request->resource.empty() || view.identity_header != secret) std::abort();
  } else {
    boost::json::error_code ec;
    boost::json::parse(imds::render_app_service_error_body(std::get<imds::Error>(parsed)), ec);
    if (ec) std::abort();
  }
  return 0;
}
