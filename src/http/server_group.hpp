#pragma once
// Servers run together: one io_context per thread, servers added to it, started, run and shut down as one. A server
// added per thread listens on the same port on every thread (SO_REUSEPORT), so a connection stays on one thread, no
// handler crosses threads and the schedulers never contend.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "http/server.hpp"

namespace azwi::http {

class ServerGroup {
 public:
  explicit ServerGroup(unsigned threads);
  ServerGroup(const ServerGroup&) = delete;
  ServerGroup& operator=(const ServerGroup&) = delete;

  unsigned threads() const { return static_cast<unsigned>(ios_.size()); }
  // The first thread's io_context: where servers added with add() and signal handlers run.
  boost::asio::io_context& io() { return *ios_[0]; }

  // One server on the first thread; given `grace` to drain at shutdown. Returns its port once started.
  const Server& add(const boost::asio::ip::tcp::endpoint& endpoint, Handler handler, ServerOptions options,
                    std::chrono::milliseconds grace);
  // One server per thread on the same address; the first picks the port (":0" in tests), the others join it.
  // Binds at once (the others need the port); throws boost::system::system_error when it cannot.
  std::uint16_t add_per_thread(const boost::asio::ip::tcp::endpoint& endpoint, const Handler& handler,
                               ServerOptions options, std::chrono::milliseconds grace);
  // Binds and starts every server not started yet. Throws boost::system::system_error when an address is taken.
  void start();
  // Runs every io_context, the first on the caller's thread; returns once shutdown() has drained every server.
  void run();
  // Stops accepting and lets each server drain within its grace; run() then returns. Callable from any thread,
  // more than once.
  void shutdown();

 private:
  struct Entry {
    std::unique_ptr<Server> server;
    unsigned thread = 0;
    std::chrono::milliseconds grace;
    bool started = false;
  };
  std::vector<std::unique_ptr<boost::asio::io_context>> ios_;
  std::vector<Entry> servers_;
  std::atomic<bool> shutting_down_{false};
};

}  // namespace azwi::http
