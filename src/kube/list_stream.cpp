#include "kube/list_stream.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/system/errc.hpp>
#include <cstdint>
#include <vector>

namespace azwi::kube {
namespace json = boost::json;

namespace {
// Where the parse is: the objects and arrays on the path from the answer's root to the current value.
enum class Node : std::uint8_t { list, list_meta, items, item, item_meta, annotations, other };

// Which string field of the current object a string value goes to.
enum class Field : std::uint8_t { none, list_rv, list_continue, name, ns, item_rv, annotation };

// The SAX handler of boost::json::basic_parser; returns false (with `ec` set and `problem` saying why) to refuse.
struct Handler {
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);

  std::function<void(ServiceAccount&&)> on_item;
  std::vector<Node> path;
  std::string key;           // the current key, when the current object is one whose keys matter
  bool key_too_long = false;  // no field this parser keeps has such a key
  Field field = Field::none;  // where the string being read goes (chosen at its first part)
  std::string value;
  ServiceAccount item;
  std::string list_rv, list_continue;
  std::size_t items = 0;
  bool root_seen = false;
  std::string problem;

  explicit Handler(std::function<void(ServiceAccount&&)> f) : on_item(std::move(f)) {}

  bool refuse(json::error_code& ec, std::string why) {
    problem = std::move(why);
    ec = boost::system::errc::make_error_code(boost::system::errc::value_too_large);
    return false;
  }
  Node top() const { return path.empty() ? Node::other : path.back(); }
  bool keyed(Node n) const { return n != Node::items && n != Node::other; }
  bool key_is(std::string_view k) const { return !key_too_long && key == k; }

  // The node a new object or array opens, from where it is and under which key.
  Node child(bool object) {
    if (path.empty()) return object ? Node::list : Node::other;
    switch (top()) {
      case Node::list:
        if (object && key_is("metadata")) return Node::list_meta;
        if (!object && key_is("items")) return Node::items;
        return Node::other;
      case Node::items: return object ? Node::item : Node::other;
      case Node::item: return object && key_is("metadata") ? Node::item_meta : Node::other;
      case Node::item_meta: return object && key_is("annotations") ? Node::annotations : Node::other;
      default: return Node::other;
    }
  }
  Field field_here() const {
    if (key_too_long) return Field::none;
    switch (top()) {
      case Node::list_meta:
        if (key == "resourceVersion") return Field::list_rv;
        if (key == "continue") return Field::list_continue;
        return Field::none;
      case Node::item_meta:
        if (key == "name") return Field::name;
        if (key == "namespace") return Field::ns;
        if (key == "resourceVersion") return Field::item_rv;
        return Field::none;
      case Node::annotations: return key.starts_with(kAnnotationPrefix) ? Field::annotation : Field::none;
      default: return Field::none;
    }
  }
  bool open(bool object, json::error_code& ec) {
    if (path.size() >= kMaxListDepth) return refuse(ec, "nested deeper than " + std::to_string(kMaxListDepth) + " levels");
    if (path.empty()) {
      if (!object) return refuse(ec, "the answer is not a JSON object");
      root_seen = true;
    }
    Node n = child(object);
    if (n == Node::item) item = ServiceAccount{};
    path.push_back(n);
    key.clear();
    key_too_long = false;
    return true;
  }
  bool close(json::error_code& ec) {
    Node n = top();
    path.pop_back();
    if (n == Node::item && !item.name.empty()) {
      if (++items > kMaxListItems)
        return refuse(ec, "more than " + std::to_string(kMaxListItems) + " service accounts in one answer");
      on_item(std::move(item));
      item = ServiceAccount{};
    }
    return true;
  }

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code& ec) { return open(true, ec); }
  bool on_object_end(std::size_t, json::error_code& ec) { return close(ec); }
  bool on_array_begin(json::error_code& ec) { return open(false, ec); }
  bool on_array_end(std::size_t, json::error_code& ec) { return close(ec); }

  bool on_key_part(json::string_view s, std::size_t n, json::error_code&) {
    if (n == s.size()) {  // the first part of a new key
      key.clear();
      key_too_long = false;
    }
    if (!keyed(top()) || key_too_long) return true;
    if (n > kMaxKeptString) {
      key_too_long = true;
      key.clear();
      return true;
    }
    key.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, std::size_t n, json::error_code& ec) { return on_key_part(s, n, ec); }

  bool on_string_part(json::string_view s, std::size_t n, json::error_code& ec) {
    if (path.empty()) return refuse(ec, "the answer is not a JSON object");
    if (n == s.size()) {  // the first part of a new string
      field = field_here();
      value.clear();
    }
    if (field == Field::none) return true;
    if (n > kMaxKeptString) {
      return refuse(ec, "a service account's " + std::string(field == Field::annotation ? "annotation " + key : key) +
                            " is longer than " + std::to_string(kMaxKeptString / 1024) + " KiB");
    }
    value.append(s.data(), s.size());
    return true;
  }
  bool on_string(json::string_view s, std::size_t n, json::error_code& ec) {
    if (!on_string_part(s, n, ec)) return false;
    switch (field) {
      case Field::none: break;
      case Field::list_rv: list_rv = std::move(value); break;
      case Field::list_continue: list_continue = std::move(value); break;
      case Field::name: item.name = std::move(value); break;
      case Field::ns: item.ns = std::move(value); break;
      case Field::item_rv: item.resource_version = std::move(value); break;
      case Field::annotation: item.annotations.insert_or_assign(key, std::move(value)); break;
    }
    field = Field::none;
    value.clear();
    return true;
  }
  bool scalar(json::error_code& ec) {
    if (path.empty()) return refuse(ec, "the answer is not a JSON object");
    return true;
  }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(std::int64_t, json::string_view, json::error_code& ec) { return scalar(ec); }
  bool on_uint64(std::uint64_t, json::string_view, json::error_code& ec) { return scalar(ec); }
  bool on_double(double, json::string_view, json::error_code& ec) { return scalar(ec); }
  bool on_bool(bool, json::error_code& ec) { return scalar(ec); }
  bool on_null(json::error_code& ec) { return scalar(ec); }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }
};

json::parse_options options() {
  json::parse_options o;
  o.max_depth = kMaxListDepth + 1;  // the handler's own bound answers first, with its message
  return o;
}
}  // namespace

struct ServiceAccountListStream::Parser : json::basic_parser<Handler> {
  explicit Parser(std::function<void(ServiceAccount&&)> f) : json::basic_parser<Handler>(options(), std::move(f)) {}
};

ServiceAccountListStream::ServiceAccountListStream(std::function<void(ServiceAccount&&)> on_item)
    : parser_(std::make_unique<Parser>(std::move(on_item))) {}
ServiceAccountListStream::~ServiceAccountListStream() = default;

const std::string& ServiceAccountListStream::resource_version() const { return parser_->handler().list_rv; }
const std::string& ServiceAccountListStream::continue_token() const { return parser_->handler().list_continue; }
std::size_t ServiceAccountListStream::items() const { return parser_->handler().items; }

bool ServiceAccountListStream::data(std::string_view bytes) {
  if (!error_.empty()) return false;
  bytes_ += bytes.size();
  if (bytes_ > kMaxListBody) {
    error_ = "the answer is larger than " + std::to_string(kMaxListBody >> 30) + " GiB";
    return false;
  }
  while (!bytes.empty() && !parser_->done()) {
    json::error_code ec;
    std::size_t used = parser_->write_some(true, bytes.data(), bytes.size(), ec);
    if (ec) {
      const std::string& why = parser_->handler().problem;
      error_ = why.empty() ? "the answer is not JSON (" + ec.message() + ")" : why;
      return false;
    }
    bytes.remove_prefix(used);
  }
  // After the complete object only whitespace may follow.
  if (!bytes.empty() && bytes.find_first_not_of(" \t\r\n") != std::string_view::npos) {
    error_ = "the answer has data after its JSON object";
    return false;
  }
  return true;
}

bool ServiceAccountListStream::finish() {
  if (!error_.empty()) return false;
  if (!parser_->done()) {
    json::error_code ec;
    parser_->write_some(false, nullptr, 0, ec);
    if (ec || !parser_->done()) {
      const std::string& why = parser_->handler().problem;
      error_ = !why.empty() ? why : bytes_ == 0 ? "the answer is empty" : "the answer is not JSON (it ends early)";
      return false;
    }
  }
  return true;
}

}  // namespace azwi::kube
