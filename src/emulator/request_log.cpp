#include "emulator/request_log.hpp"

#include "jwt/digest.hpp"

namespace azwi::emulator {
namespace json = boost::json;

RequestLog::RequestLog(std::size_t capacity) : capacity_(capacity) {}

void RequestLog::record_token(const std::string& method, const std::string& path, unsigned status, const Form& form,
                              int error_code, const std::string& fault, const std::string& listener) {
  json::object f;
  for (const auto& [k, v] : form) {
    if (k == "client_assertion") f["client_assertion_sha256"] = jwt::sha256_hex(v);
    else if (k == "client_secret") f["client_secret_sha256"] = jwt::sha256_hex(v);
    else f[k] = v;
  }
  json::object e;
  e["method"] = method;
  e["path"] = path;
  e["status"] = status;
  e["form"] = std::move(f);
  if (error_code) e["error_code"] = error_code;
  if (!fault.empty()) e["fault"] = fault;
  if (!listener.empty()) e["listener"] = listener;
  std::lock_guard lock(mutex_);
  ++token_requests_;
  if (status == 200) ++tokens_issued_;
  else ++token_errors_;
  entries_.push_back(std::move(e));
  while (entries_.size() > capacity_) entries_.pop_front();
}

json::object RequestLog::stats() const {
  std::lock_guard lock(mutex_);
  json::object o;
  o["token_requests"] = token_requests_;
  o["tokens_issued"] = tokens_issued_;
  o["token_errors"] = token_errors_;
  o["imds_requests"] = imds_requests_;
  return o;
}

json::array RequestLog::requests() const {
  std::lock_guard lock(mutex_);
  json::array a;
  for (const auto& e : entries_) a.push_back(e);
  return a;
}

void RequestLog::clear() {
  std::lock_guard lock(mutex_);
  entries_.clear();
  token_requests_ = tokens_issued_ = token_errors_ = imds_requests_ = 0;
}

}  // namespace azwi::emulator
