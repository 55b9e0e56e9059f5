// libFuzzer target: any bytes as a ServiceAccount list answer and as a watch stream (the first byte splits the input;
// the stream arrives in chunks whose sizes come from the input too, as a network hands them over). Parsing never
// crashes; every event handed over is a typed event, and a stream that stopped says why.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "kube/client.hpp"

using namespace azwi::kube;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::size_t cut = std::min<std::size_t>(rest.size(), data[0] * 8);
  ListPage page = parse_service_account_list(rest.substr(0, cut));
  for (const auto& sa : page.items)
    if (sa.name.empty()) std::abort();  // an item without metadata.name is not a service account

  std::function<void(const WatchEvent&)> on_event = [](const WatchEvent& e) {
    if (e.type != WatchEvent::Type::bookmark && e.object.name.empty()) std::abort();
  };
  WatchState watch;
  watch.on_event = &on_event;
  std::string_view stream = rest.substr(cut);
  std::size_t chunk = 1 + data[0] % 61;
  while (!stream.empty()) {
    std::size_t n = std::min(chunk, stream.size());
    if (!watch.data(stream.substr(0, n))) {
      if (!watch.gone && watch.error.empty()) std::abort();  // stopped without a reason
      break;
    }
    stream.remove_prefix(n);
  }
  return 0;
}
