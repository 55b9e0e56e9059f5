#pragma once
// A ServiceAccountList answer parsed as its bytes arrive (a SAX parse of the JSON): each item is handed over as soon as
// it is complete, keeping only what service_account_from_json keeps, so that a page is never held whole. A server
// that ignores `limit` sends every account of the cluster in one answer (about 150 MiB for 100,000 accounts with
// managedFields); this parses it in a few hundred KiB of memory besides the accounts kept.
//
// Bounds (an answer beyond them is refused, with the error saying which): kMaxListBody bytes per answer,
// kMaxListItems items per answer, kMaxKeptString bytes for one kept string (a name, a resourceVersion, an
// azure.workload.identity/ annotation: Kubernetes itself allows 256 KiB for all of an object's annotations), and
// JSON nesting of kMaxListDepth levels.
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "kube/service_account.hpp"

namespace azwi::kube {

inline constexpr std::size_t kMaxListBody = std::size_t{2} << 30;  // 2 GiB
inline constexpr std::size_t kMaxListItems = 1'000'000;
inline constexpr std::size_t kMaxKeptString = 256 * 1024;
inline constexpr std::size_t kMaxListDepth = 64;

class ServiceAccountListStream {
 public:
  explicit ServiceAccountListStream(std::function<void(ServiceAccount&&)> on_item);
  ~ServiceAccountListStream();
  ServiceAccountListStream(const ServiceAccountListStream&) = delete;
  ServiceAccountListStream& operator=(const ServiceAccountListStream&) = delete;

  // The next bytes of the answer; false once the answer is refused (error() says why): stop reading.
  bool data(std::string_view bytes);
  // The end of the answer; false when it is not one complete JSON object or was refused.
  bool finish();

  const std::string& error() const { return error_; }
  const std::string& resource_version() const;  // the list's metadata.resourceVersion
  const std::string& continue_token() const;    // metadata.continue: empty on the last page
  std::size_t items() const;                    // service accounts handed over so far

  struct Parser;

 private:
  std::unique_ptr<Parser> parser_;
  std::size_t bytes_ = 0;
  std::string error_;
};

}  // namespace azwi::kube
