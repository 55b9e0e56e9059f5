#pragma once
// Null-safe reads of Kubernetes and ARM objects: a missing member or one of another type reads as absent.
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace azwi::cli {

inline const boost::json::object* object_at(const boost::json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_object() ? &v->get_object() : nullptr;
}
inline const boost::json::array* array_at(const boost::json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_array() ? &v->get_array() : nullptr;
}
inline std::string string_at(const boost::json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}
inline std::optional<std::int64_t> int_at(const boost::json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (v && v->is_int64()) return v->get_int64();
  if (v && v->is_uint64()) return static_cast<std::int64_t>(v->get_uint64());
  return std::nullopt;
}
inline bool bool_at(const boost::json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_bool() && v->get_bool();
}
// metadata.<key> of a Kubernetes object, e.g. the name.
inline std::string meta_string(const boost::json::object& o, std::string_view key) {
  auto* m = object_at(o, "metadata");
  return m ? string_at(*m, key) : std::string();
}

}  // namespace azwi::cli
