#include "kube/account_store.hpp"

namespace azwi::kube {
namespace {
// A field is its length (7 bits per byte, low bits first, the high bit saying more follow), then its bytes: values
// may hold any byte, NUL included.
void append_field(std::string& out, std::string_view field) {
  std::size_t n = field.size();
  do {
    auto byte = static_cast<unsigned char>(n & 0x7f);
    n >>= 7;
    out.push_back(static_cast<char>(n ? byte | 0x80 : byte));
  } while (n);
  out.append(field);
}

// The next field of `packed` from `at`, which moves past it.
std::string_view next_field(std::string_view packed, std::size_t& at) {
  std::size_t n = 0;
  for (int shift = 0; at < packed.size(); shift += 7) {
    auto byte = static_cast<unsigned char>(packed[at++]);
    n |= std::size_t{byte & 0x7fu} << shift;
    if (!(byte & 0x80)) break;
  }
  std::string_view field = packed.substr(at, n);
  at += field.size();
  return field;
}

std::string pack(const ServiceAccount& sa) {
  std::string out;
  append_field(out, sa.resource_version);
  for (const auto& [key, value] : sa.annotations) {
    std::string_view k = key;
    if (!k.starts_with(kAnnotationPrefix)) continue;  // only those are kept (service_account.hpp)
    k.remove_prefix(kAnnotationPrefix.size());
    append_field(out, k);
    append_field(out, value);
  }
  out.shrink_to_fit();
  return out;
}
}  // namespace

void AccountStore::put(const ServiceAccount& sa, std::uint32_t generation, bool replace) {
  auto ns = namespaces_.find(std::string_view(sa.ns));
  if (ns == namespaces_.end()) ns = namespaces_.emplace(sa.ns, Accounts{}).first;
  auto it = ns->second.find(std::string_view(sa.name));
  if (it == ns->second.end()) {
    ns->second.emplace(sa.name, Entry{pack(sa), generation});
    ++size_;
  } else if (replace) {
    it->second = Entry{pack(sa), generation};
  }
}

void AccountStore::erase(std::string_view ns, std::string_view name) {
  auto n = namespaces_.find(ns);
  if (n == namespaces_.end()) return;
  auto it = n->second.find(name);
  if (it == n->second.end()) return;
  n->second.erase(it);
  --size_;
  if (n->second.empty()) namespaces_.erase(n);
}

ServiceAccountPtr AccountStore::get(std::string_view ns, std::string_view name) const {
  auto n = namespaces_.find(ns);
  if (n == namespaces_.end()) return nullptr;
  auto it = n->second.find(name);
  if (it == n->second.end()) return nullptr;
  auto sa = std::make_shared<ServiceAccount>();
  sa->ns = n->first;
  sa->name = it->first;
  std::string_view packed = it->second.packed;
  std::size_t at = 0;
  sa->resource_version = std::string(next_field(packed, at));
  while (at < packed.size()) {
    std::string key(kAnnotationPrefix);
    key.append(next_field(packed, at));
    std::string_view value = next_field(packed, at);
    sa->annotations.emplace(std::move(key), std::string(value));
  }
  return sa;
}

std::size_t AccountStore::sweep(std::uint32_t generation) {
  std::size_t removed = 0;
  for (auto n = namespaces_.begin(); n != namespaces_.end();) {
    removed += std::erase_if(n->second, [&](const auto& kv) { return kv.second.generation != generation; });
    n = n->second.empty() ? namespaces_.erase(n) : std::next(n);
  }
  size_ -= removed;
  return removed;
}

}  // namespace azwi::kube
