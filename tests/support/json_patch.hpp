#pragma once
// Applying the webhook's RFC 6902 patches in C++ tests, to reinvoke the mutation on the pod it produces. Only the
// operations the webhook writes (add, replace) are understood; anything else fails the test. Whether the patch means
// what RFC 6902 says is checked separately, by python3-jsonpatch (tests/webhook/apply_patches.py).
#include <boost/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>

namespace azwi::test {

inline boost::json::value& json_patch_parent(boost::json::value& doc, std::string_view path, std::string& last) {
  if (path.empty() || path.front() != '/') throw std::invalid_argument("bad JSON pointer: " + std::string(path));
  boost::json::value* at = &doc;
  std::size_t start = 1;
  for (;;) {
    std::size_t slash = path.find('/', start);
    std::string_view raw = path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    std::string token;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '~' && i + 1 < raw.size() && (raw[i + 1] == '0' || raw[i + 1] == '1')) {
        token += raw[++i] == '1' ? '/' : '~';
      } else {
        token += raw[i];
      }
    }
    if (slash == std::string_view::npos) {
      last = std::move(token);
      return *at;
    }
    at = at->is_array() ? &at->as_array().at(std::stoul(token)) : &at->as_object().at(token);
    start = slash + 1;
  }
}

// `pod` with `patch_text` (a JSON array of operations, or "" for none) applied.
inline boost::json::object apply_json_patch(const boost::json::object& pod, std::string_view patch_text) {
  boost::json::value doc(pod);
  if (patch_text.empty()) return doc.as_object();
  const boost::json::value ops = boost::json::parse(patch_text);
  for (const auto& op_value : ops.as_array()) {
    const auto& op = op_value.as_object();
    std::string_view name = op.at("op").as_string();
    std::string last;
    boost::json::value& parent = json_patch_parent(doc, op.at("path").as_string(), last);
    const boost::json::value& value = op.at("value");
    if (parent.is_array()) {
      auto& list = parent.as_array();
      if (name == "add" && last == "-") {
        list.push_back(value);
      } else if (std::size_t i = std::stoul(last); name == "add" && i <= list.size()) {
        list.insert(list.begin() + static_cast<std::ptrdiff_t>(i), value);
      } else if (name == "replace") {
        list.at(i) = value;
      } else {
        throw std::invalid_argument("cannot apply " + boost::json::serialize(op));
      }
    } else if (name == "add") {
      parent.as_object()[last] = value;
    } else if (name == "replace") {
      parent.as_object().at(last) = value;
    } else {
      throw std::invalid_argument("cannot apply " + boost::json::serialize(op));
    }
  }
  return doc.as_object();
}

}  // namespace azwi::test
