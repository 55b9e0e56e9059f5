#include "http/server_group.hpp"

#include <boost/asio/post.hpp>
#include <thread>

namespace azwi::http {
namespace asio = boost::asio;

ServerGroup::ServerGroup(unsigned threads) {
  for (unsigned i = 0; i < (threads ? threads : 1); ++i) ios_.push_back(std::make_unique<asio::io_context>(1));
}

const Server& ServerGroup::add(const asio::ip::tcp::endpoint& endpoint, Handler handler, ServerOptions options,
                               std::chrono::milliseconds grace) {
  servers_.push_back({std::make_unique<Server>(*ios_[0], endpoint, std::move(handler), std::move(options)), 0, grace});
  return *servers_.back().server;
}

std::uint16_t ServerGroup::add_per_thread(const asio::ip::tcp::endpoint& endpoint, const Handler& handler,
                                          ServerOptions options, std::chrono::milliseconds grace) {
  options.reuse_port = true;
  std::uint16_t port = 0;
  for (unsigned i = 0; i < threads(); ++i) {
    auto ep = i == 0 ? endpoint : asio::ip::tcp::endpoint(endpoint.address(), port);
    Entry& e = servers_.emplace_back(Entry{std::make_unique<Server>(*ios_[i], ep, handler, options), i, grace});
    e.server->start();
    e.started = true;
    if (i == 0) port = e.server->port();
  }
  return port;
}

void ServerGroup::start() {
  for (Entry& e : servers_)
    if (!e.started) {
      e.server->start();
      e.started = true;
    }
}

void ServerGroup::run() {
  std::vector<std::thread> pool;
  for (unsigned i = 1; i < threads(); ++i) pool.emplace_back([io = ios_[i].get()] { io->run(); });
  ios_[0]->run();
  for (auto& t : pool) t.join();
}

void ServerGroup::shutdown() {
  if (shutting_down_.exchange(true)) return;
  // Each server shuts down on its own thread; the last one to finish stops every io_context.
  auto remaining = std::make_shared<std::atomic<std::size_t>>(servers_.size());
  auto done = [this, remaining] {
    if (--*remaining == 0)
      for (auto& io : ios_) io->stop();
  };
  if (servers_.empty())
    for (auto& io : ios_) io->stop();
  for (Entry& e : servers_)
    asio::post(*ios_[e.thread], [server = e.server.get(), grace = e.grace, done] { server->shutdown(grace, done); });
}

}  // namespace azwi::http
