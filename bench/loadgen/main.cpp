// azwi-loadgen: an open-loop HTTPS load generator for the benchmarks.
//
// wrk is closed-loop: each connection sends its next request only when the previous answer is back, so at saturation
// the latency it reports is mostly the queue the load generator itself builds (latency = connections / throughput).
// This tool offers a fixed request rate instead, spread evenly over keep-alive connections, and measures every
// request from the moment it was due to be sent, not from when it was actually sent: when the server falls behind,
// the delay counts against it (no coordinated omission). It reports the latency distribution at that rate.
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/url/parse.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <vector>

#include "common/flags.hpp"

namespace {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string url;
  std::string body_file;
  std::string content_type = "application/json";
  std::string method = "POST";
  std::string ca_file;
  int connections = 32;
  int rate = 5000;
  int duration = 10;
  int warmup = 2;
  int timeout_ms = 5000;
};

struct Totals {
  std::vector<double> latencies_ms;  // measured requests only
  long ok = 0, non_2xx = 0, failed_connections = 0, late = 0, unanswered = 0;
};

// One keep-alive connection sending a request every `period`, starting at `first_due`.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(asio::io_context& io, asio::ssl::context& tls, const Options& o, const bhttp::request<bhttp::string_body>& req,
             tcp::resolver::results_type endpoints, Clock::time_point first_due, Clock::duration period,
             Clock::time_point measure_from, Clock::time_point end, Totals& totals)
      : stream_(io, tls), timer_(io), deadline_(io), options_(o), req_(req), endpoints_(endpoints), due_(first_due),
        period_(period), measure_from_(measure_from), end_(end), totals_(totals) {}

  void start(const std::string& host) {
    SSL_set_tlsext_host_name(stream_.native_handle(), host.c_str());
    stream_.set_verify_callback(asio::ssl::host_name_verification(host));
    auto self = shared_from_this();
    arm_deadline();
    asio::async_connect(stream_.next_layer(), endpoints_, [self](beast::error_code ec, const tcp::endpoint&) {
      if (ec) return self->fail("connect", ec);
      self->stream_.async_handshake(asio::ssl::stream_base::client, [self](beast::error_code ec) {
        if (ec) return self->fail("TLS handshake", ec);
        self->disarm_deadline();
        self->wait_until_due();
      });
    });
  }

  // When the run is over: every request of the measured window that was due but not answered (never sent, in
  // flight, or lost with its connection) counts with the time it has waited so far, so that a server which falls
  // behind cannot improve its percentiles by not answering.
  void account_unanswered(Clock::time_point stop) {
    for (auto due = due_; due < end_; due += period_) {
      if (due < measure_from_) continue;
      totals_.latencies_ms.push_back(std::chrono::duration<double, std::milli>(stop - due).count());
      ++totals_.unanswered;
    }
  }

 private:
  void wait_until_due() {
    if (due_ >= end_) return close();
    timer_.expires_at(due_);
    auto self = shared_from_this();
    timer_.async_wait([self](beast::error_code ec) {
      if (!ec) self->send();
    });
  }

  void send() {
    auto self = shared_from_this();
    arm_deadline();
    bhttp::async_write(stream_, req_, [self](beast::error_code ec, std::size_t) {
      if (ec) return self->fail("write", ec);
      self->res_ = {};
      bhttp::async_read(self->stream_, self->buffer_, self->res_, [self](beast::error_code ec, std::size_t) {
        if (ec) return self->fail("read", ec);
        self->disarm_deadline();
        self->done();
      });
    });
  }

  void done() {
    auto now = Clock::now();
    if (due_ >= measure_from_) {
      totals_.latencies_ms.push_back(std::chrono::duration<double, std::milli>(now - due_).count());
      if (res_.result_int() / 100 == 2) {
        ++totals_.ok;
      } else {
        ++totals_.non_2xx;
      }
      if (now - due_ > period_) ++totals_.late;
    }
    due_ += period_;
    wait_until_due();
  }

  // A request (or the connection set-up) that takes longer than the timeout ends this connection, counted as
  // failed, so the run stays bounded. The generation tells a stale expiry from the current one.
  void arm_deadline() {
    ++generation_;
    deadline_.expires_after(std::chrono::milliseconds(options_.timeout_ms));
    deadline_.async_wait([self = shared_from_this(), g = generation_](beast::error_code ec) {
      if (!ec && g == self->generation_) self->fail("timeout", asio::error::timed_out);
    });
  }
  void disarm_deadline() {
    ++generation_;
    deadline_.cancel();
  }

  void fail(const char* what, beast::error_code ec) {
    if (closed_) return;
    ++totals_.failed_connections;
    std::fprintf(stderr, "azwi-loadgen: connection failed at %s: %s\n", what, ec.message().c_str());
    close();
  }
  void close() {
    if (closed_) return;
    closed_ = true;
    timer_.cancel();
    deadline_.cancel();
    beast::error_code ignored;
    stream_.next_layer().close(ignored);
  }

  asio::ssl::stream<tcp::socket> stream_;
  asio::steady_timer timer_;
  asio::steady_timer deadline_;
  unsigned generation_ = 0;
  const Options& options_;
  const bhttp::request<bhttp::string_body>& req_;
  tcp::resolver::results_type endpoints_;
  Clock::time_point due_;
  Clock::duration period_;
  Clock::time_point measure_from_, end_;
  Totals& totals_;
  beast::flat_buffer buffer_;
  bhttp::response<bhttp::string_body> res_;
  bool closed_ = false;
};

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto i = static_cast<std::size_t>(p / 100.0 * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
}

int run(const Options& o) {
  auto url = boost::urls::parse_absolute_uri(o.url);
  if (!url || url->scheme() != "https") {
    std::cerr << "azwi-loadgen: --url must be an https:// URL\n";
    return 2;
  }
  std::string body;
  if (!o.body_file.empty()) {
    std::ifstream in(o.body_file, std::ios::binary);
    if (!in) {
      std::cerr << "azwi-loadgen: cannot read --body-file " << o.body_file << "\n";
      return 2;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    body = ss.str();
  }
  std::string host(url->host());
  std::string port = url->has_port() ? std::string(url->port()) : "443";

  asio::io_context io(1);
  asio::ssl::context tls(asio::ssl::context::tls_client);
  tls.set_verify_mode(asio::ssl::verify_peer);
  if (!o.ca_file.empty()) {
    tls.load_verify_file(o.ca_file);
  } else {
    tls.set_default_verify_paths();
  }
  tcp::resolver resolver(io);
  auto endpoints = resolver.resolve(host, port);

  bhttp::request<bhttp::string_body> req(bhttp::string_to_verb(o.method), std::string(url->encoded_target()), 11);
  req.set(bhttp::field::host, host + ":" + port);
  req.set(bhttp::field::user_agent, "azwi-loadgen");
  if (!body.empty()) req.set(bhttp::field::content_type, o.content_type);
  req.body() = body;
  req.keep_alive(true);
  req.prepare_payload();

  // Connection i sends at start + i * (period / connections) + k * period: evenly spaced over the whole run.
  auto period = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(double(o.connections) / o.rate));
  auto start = Clock::now() + std::chrono::milliseconds(200);  // time for the handshakes
  auto measure_from = start + std::chrono::seconds(o.warmup);
  auto end = measure_from + std::chrono::seconds(o.duration);
  Totals totals;
  totals.latencies_ms.reserve(static_cast<std::size_t>(o.rate) * static_cast<std::size_t>(o.duration) + 16);
  std::vector<std::shared_ptr<Connection>> connections;
  for (int i = 0; i < o.connections; ++i) {
    auto c = std::make_shared<Connection>(io, tls, o, req, endpoints, start + period * i / o.connections, period,
                                          measure_from, end, totals);
    c->start(host);
    connections.push_back(std::move(c));
  }
  // Every connection ends by `end` plus one request timeout; the extra second is for closing.
  io.run_for(end - Clock::now() + std::chrono::milliseconds(o.timeout_ms) + std::chrono::seconds(1));
  auto stop = Clock::now();
  for (auto& c : connections) c->account_unanswered(stop);

  auto& l = totals.latencies_ms;
  std::sort(l.begin(), l.end());
  long expected = static_cast<long>(o.rate) * o.duration;
  std::size_t answered = l.size() - static_cast<std::size_t>(totals.unanswered);
  std::printf("offered %d req/s over %d connections for %d s (after %d s warm-up): %zu answered of %ld due\n", o.rate,
              o.connections, o.duration, o.warmup, answered, expected);
  std::printf("latency from due time, ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n", percentile(l, 50),
              percentile(l, 90), percentile(l, 99), percentile(l, 99.9), l.empty() ? 0.0 : l.back());
  std::printf("non-2xx %ld, answered later than one period %ld, failed connections %ld, unanswered %ld (counted in the\n"
              "latencies with the time they had waited when the run ended)\n",
              totals.non_2xx, totals.late, totals.failed_connections, totals.unanswered);
  // One line for scripts.
  std::printf("RESULT answered=%zu due=%ld p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f non2xx=%ld "
              "failed_connections=%ld unanswered=%ld\n",
              answered, expected, percentile(l, 50), percentile(l, 90), percentile(l, 99), percentile(l, 99.9),
              l.empty() ? 0.0 : l.back(), totals.non_2xx, totals.failed_connections, totals.unanswered);
  return totals.failed_connections == 0 ? 0 : 1;
}
}  // namespace

int main(int argc, char** argv) {
  Options o;
  azwi::FlagSet flags("azwi-loadgen",
                      "Offers a fixed rate of identical HTTPS requests over keep-alive connections and reports the "
                      "latency of each, measured from when it was due (open loop).");
  flags.add_string("url", &o.url, "the https:// URL to request (required)");
  flags.add_string("body-file", &o.body_file, "file whose bytes are sent as every request's body");
  flags.add_string("content-type", &o.content_type, "Content-Type of the body");
  flags.add_string("method", &o.method, "HTTP method");
  flags.add_string("cacert", &o.ca_file, "PEM file of the CA that signed the server's certificate (default: system)");
  flags.add_int("connections", &o.connections, "keep-alive connections the rate is spread over", 1, 10000);
  flags.add_int("rate", &o.rate, "requests per second, in total", 1, 1000000);
  flags.add_int("duration", &o.duration, "seconds measured", 1, 3600);
  flags.add_int("warmup", &o.warmup, "seconds of load before measuring (not counted)", 0, 600);
  flags.add_int("timeout-ms", &o.timeout_ms, "a request not answered within this ends its connection", 1, 600000);
  azwi::parse_flags_or_exit(flags, argc, argv);
  if (o.url.empty()) {
    std::cerr << "azwi-loadgen: --url is required\n";
    return 2;
  }
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::cerr << "azwi-loadgen: " << e.what() << "\n";
    return 1;
  }
}
