#pragma once
// The Asio client's name lookups. getaddrinfo cannot be interrupted, and an io_context waits for a lookup it started,
// so lookups run on a thread of the resolver's own (started by the first one), one after the other. A caller waits
// for its answer until its deadline or its stop flag; one that stops waiting withdraws its lookup if it has not begun,
// and the answer of one that has begun is dropped. So a lookup that hangs (a DNS server that does not answer) holds
// up the later lookups of the same resolver, each of which still ends by its own deadline, and however many lookups
// there are, there is one thread. Destruction waits for the lookup in progress, which the system resolver's own
// timeouts (resolv.conf) bound.
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace azwi::http {

struct NameLookup {
  enum class End { resolved, failed, timed_out, stopped };
  End end = End::failed;
  std::vector<boost::asio::ip::tcp::endpoint> endpoints;  // resolved: at least one
  std::string error;                                      // failed: the system's reason
};

class NameResolver {
 public:
  NameResolver() = default;
  ~NameResolver();
  NameResolver(const NameResolver&) = delete;
  NameResolver& operator=(const NameResolver&) = delete;

  // Thread-safe. `stop` (may be null) is looked at every `poll` while waiting.
  NameLookup resolve(const std::string& host, std::uint16_t port, std::chrono::steady_clock::time_point deadline,
                     const std::atomic<bool>* stop, std::chrono::milliseconds poll);

 private:
  struct Job;
  void work();

  std::mutex mutex_;
  std::condition_variable queued_;    // the worker waits for a job or for shutdown
  std::condition_variable answered_;  // callers wait for their job's answer
  std::deque<std::shared_ptr<Job>> queue_;
  bool shutting_down_ = false;
  std::thread worker_;
};

}  // namespace azwi::http
