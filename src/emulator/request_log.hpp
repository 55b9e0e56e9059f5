#pragma once
// What tests read to count exchanges: counters of the token endpoint and a bounded log of its recent requests.
// The client assertion is never kept: only its SHA-256.
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>

#include "emulator/form.hpp"

namespace azwi::emulator {

class RequestLog {
 public:
  explicit RequestLog(std::size_t capacity = 1000);
  // Records one token-endpoint request and its outcome; `listener` non-empty (the token proxy) is recorded too.
  void record_token(const std::string& method, const std::string& path, unsigned status, const Form& form,
                    int error_code, const std::string& fault, const std::string& listener = "");
  void count_imds() { std::lock_guard l(mutex_); ++imds_requests_; }
  boost::json::object stats() const;
  boost::json::array requests() const;
  void clear();

 private:
  std::size_t capacity_;
  mutable std::mutex mutex_;
  std::deque<boost::json::object> entries_;
  std::uint64_t token_requests_ = 0, tokens_issued_ = 0, token_errors_ = 0, imds_requests_ = 0;
};

}  // namespace azwi::emulator
