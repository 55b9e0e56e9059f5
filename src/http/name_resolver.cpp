#include "http/name_resolver.hpp"

#include <algorithm>
#include <boost/asio/io_context.hpp>

namespace azwi::http {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

struct NameResolver::Job {
  std::string host;
  std::uint16_t port = 0;
  bool done = false;
  NameLookup answer;
};

NameResolver::~NameResolver() {
  {
    std::lock_guard lock(mutex_);
    shutting_down_ = true;
  }
  queued_.notify_all();
  if (worker_.joinable()) worker_.join();
}

NameLookup NameResolver::resolve(const std::string& host, std::uint16_t port, Clock::time_point deadline,
                                 const std::atomic<bool>* stop, std::chrono::milliseconds poll) {
  auto job = std::make_shared<Job>();
  job->host = host;
  job->port = port;
  std::unique_lock lock(mutex_);
  if (!worker_.joinable()) worker_ = std::thread([this] { work(); });
  queue_.push_back(job);
  queued_.notify_one();
  auto give_up = [&](NameLookup::End end) {
    queue_.erase(std::remove(queue_.begin(), queue_.end(), job), queue_.end());
    NameLookup out;
    out.end = end;
    return out;
  };
  while (!job->done) {
    if (stop && stop->load()) return give_up(NameLookup::End::stopped);
    auto now = Clock::now();
    if (now >= deadline) return give_up(NameLookup::End::timed_out);
    answered_.wait_until(lock, stop ? std::min(deadline, now + std::max(poll, std::chrono::milliseconds(10))) : deadline);
  }
  return std::move(job->answer);
}

void NameResolver::work() {
  asio::io_context io;  // a synchronous lookup needs a context, never a running one
  tcp::resolver resolver(io);
  std::unique_lock lock(mutex_);
  while (true) {
    queued_.wait(lock, [this] { return shutting_down_ || !queue_.empty(); });
    if (shutting_down_) return;
    std::shared_ptr<Job> job = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    boost::system::error_code ec;
    auto results = resolver.resolve(job->host, std::to_string(job->port), ec);
    NameLookup answer;
    if (ec) {
      answer.error = ec.message();
    } else if (results.empty()) {
      answer.error = "no address";
    } else {
      answer.end = NameLookup::End::resolved;
      for (const auto& entry : results) answer.endpoints.push_back(entry.endpoint());
    }
    lock.lock();
    job->answer = std::move(answer);
    job->done = true;
    answered_.notify_all();
  }
}

}  // namespace azwi::http
