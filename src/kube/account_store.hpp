#pragma once
// The service-account cache's storage, compact because a large cluster has 100,000 accounts and more: accounts
// grouped by namespace (each namespace's name held once), and of each account only its name and one string packing
// its resourceVersion and azure.workload.identity/ annotations (the prefix left out), which for the two thirds
// without annotations fits in the string itself: about 170 bytes per account in all (bench/scale). Lookups build a
// ServiceAccount on the fly. Not thread-safe: the cache locks.
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "kube/service_account.hpp"

namespace azwi::kube {

class AccountStore {
 public:
  // Stores `sa` stamped with `generation` (see sweep); `replace` false keeps an account already there.
  void put(const ServiceAccount& sa, std::uint32_t generation, bool replace = true);
  void erase(std::string_view ns, std::string_view name);
  ServiceAccountPtr get(std::string_view ns, std::string_view name) const;
  // Removes the accounts not stored with `generation` (gone from the cluster since the list that stamped the rest).
  std::size_t sweep(std::uint32_t generation);
  std::size_t size() const { return size_; }
  std::size_t namespaces() const { return namespaces_.size(); }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Entry {
    std::string packed;  // length-prefixed fields: resourceVersion, then annotation key suffix and value pairs
    std::uint32_t generation = 0;
  };
  using Accounts = std::unordered_map<std::string, Entry, Hash, std::equal_to<>>;
  std::unordered_map<std::string, Accounts, Hash, std::equal_to<>> namespaces_;
  std::size_t size_ = 0;
};

}  // namespace azwi::kube
