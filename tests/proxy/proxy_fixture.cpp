#include "proxy/proxy_fixture.hpp"

#include <gtest/gtest.h>

#include <boost/beast/http/field.hpp>

namespace azwi::test {
namespace bhttp = boost::beast::http;

EchoImds::EchoImds() {
  server_ = std::make_unique<http::Server>(
      io_, http::parse_endpoint("127.0.0.1:0"), [this](http::Request req, http::Responder respond) {
        Seen s{std::string(req.method_string()), std::string(req.target()), req.body(), {}};
        boost::json::object headers;
        for (auto& f : req) {
          s.headers[std::string(f.name_string())] = std::string(f.value());
          headers[std::string(f.name_string())] = std::string(f.value());
        }
        {
          std::lock_guard lock(mutex_);
          seen_.push_back(s);
        }
        http::Response res{bhttp::status::created, 11};
        res.set(bhttp::field::content_type, "application/json");
        res.set("X-Imds-Echo", "yes");
        res.body() = boost::json::serialize(boost::json::object{
            {"method", s.method}, {"target", s.target}, {"body", s.body}, {"headers", headers}});
        respond(std::move(res));
      });
  server_->start();
  port_ = server_->port();
  thread_ = std::thread([this] { io_.run(); });
}

EchoImds::~EchoImds() {
  io_.stop();
  thread_.join();
}

std::vector<EchoImds::Seen> EchoImds::seen() {
  std::lock_guard lock(mutex_);
  return seen_;
}

ProxyProcess::ProxyProcess(const TempDir& dir, ProxyOptions options) : port_(free_port()) {
  std::vector<std::string> argv{AZWI_PROXY_BIN, "--proxy-port=" + std::to_string(port_)};
  for (auto& a : options.args) argv.push_back(a);
  process_ = std::make_unique<ChildProcess>(argv, options.env, dir.file("proxy-" + std::to_string(port_) + ".log"));
  if (!wait_for_port(port_, std::chrono::seconds(5))) {
    ADD_FAILURE() << "proxy did not listen; its output:\n" << process_->output();
  }
}

http::ClientResponse ProxyProcess::get_token(const std::string& query, http::HeaderList headers) {
  return http_request("GET", url(kTokenPath + "?" + query), std::move(headers));
}

}  // namespace azwi::test
