#include "webhook/review_json.hpp"

#include "webhook/review_fields.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/value_stack.hpp>
#include <cstdint>
#include <optional>
#include <vector>

namespace azwi::webhook {
namespace json = boost::json;

namespace {

// Where in the review a value sits, as far as leaving things out is concerned.
enum class Place : std::uint8_t { root, request, pod, metadata, spec, container_list, container, kept };

// The members kept at each place (everything is kept at Place::kept), from review_fields.hpp, and the place of
// each one's value.
template <std::size_t N>
bool listed(const std::string_view (&fields)[N], std::string_view key) {
  for (std::string_view f : fields)
    if (f == key) return true;
  return false;
}

std::optional<Place> kept_child(Place parent, std::string_view key) {
  switch (parent) {
    case Place::root:
      if (!listed(field::kRoot, key)) return std::nullopt;
      return key == field::request ? Place::request : Place::kept;
    case Place::request:
      if (!listed(field::kRequest, key)) return std::nullopt;
      return key == field::object ? Place::pod : Place::kept;
    case Place::pod:
      if (!listed(field::kPod, key)) return std::nullopt;
      return key == field::metadata ? Place::metadata : Place::spec;
    case Place::metadata:
      if (!listed(field::kMetadata, key)) return std::nullopt;
      return Place::kept;
    case Place::spec:
      if (!listed(field::kSpec, key)) return std::nullopt;
      return key == field::init_containers || key == field::containers ? Place::container_list : Place::kept;
    case Place::container:
      if (!listed(field::kContainer, key)) return std::nullopt;
      return Place::kept;
    default: return Place::kept;
  }
}

// A basic_parser handler that builds values like boost::json::parser does, except for the members it leaves out.
class PruningHandler {
 public:
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();

  PruningHandler(json::storage_ptr sp, bool whole, unsigned char* temp, std::size_t temp_size)
      : stack_(json::storage_ptr(), temp, temp_size), sp_(std::move(sp)), whole_(whole) {}

  json::value release() { return stack_.release(); }
  std::size_t pod_members() const { return pod_members_; }

  bool on_document_begin(json::error_code&) {
    stack_.reset(sp_);
    return true;
  }
  bool on_document_end(json::error_code&) { return true; }

  bool on_object_begin(json::error_code&) { return begin(true); }
  bool on_object_end(std::size_t n, json::error_code&) {
    if (skipping_) return end_skipped();
    Frame f = frames_.back();
    frames_.pop_back();
    if (f.place == Place::pod) pod_members_ = n;
    stack_.push_object(f.kept);
    return counted();
  }
  bool on_array_begin(json::error_code&) { return begin(false); }
  bool on_array_end(std::size_t, json::error_code&) {
    if (skipping_) return end_skipped();
    Frame f = frames_.back();
    frames_.pop_back();
    stack_.push_array(f.kept);
    return counted();
  }

  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    if (!skipping_) key_.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code&) {
    if (skipping_) return true;
    // The key arrives in parts only when it is split or escaped; usually it is read where it lies.
    std::string_view key(s.data(), s.size());
    if (!key_.empty()) {
      key_.append(s.data(), s.size());
      key = key_;
    }
    Place parent = frames_.back().place;
    Place child = Place::kept;
    bool keep = whole_ || parent == Place::kept || parent == Place::container_list;
    if (!keep) {
      std::optional<Place> kept = kept_child(parent, key);
      keep = kept.has_value();
      if (kept) child = *kept;
    } else if (whole_) {
      child = child_place_when_whole(parent, key);
    }
    if (keep) {
      stack_.push_key(key);
      next_ = child;
    } else {
      skip_next_ = true;
    }
    key_.clear();
    return true;
  }

  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    if (skipping_ || skip_next_) return true;
    stack_.push_chars(s);
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code&) {
    if (scalar_skipped()) return true;
    stack_.push_string(s);
    return counted();
  }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(std::int64_t i, json::string_view, json::error_code&) {
    if (scalar_skipped()) return true;
    stack_.push_int64(i);
    return counted();
  }
  bool on_uint64(std::uint64_t u, json::string_view, json::error_code&) {
    if (scalar_skipped()) return true;
    stack_.push_uint64(u);
    return counted();
  }
  bool on_double(double d, json::string_view, json::error_code&) {
    if (scalar_skipped()) return true;
    stack_.push_double(d);
    return counted();
  }
  bool on_bool(bool b, json::error_code&) {
    if (scalar_skipped()) return true;
    stack_.push_bool(b);
    return counted();
  }
  bool on_null(json::error_code&) {
    if (scalar_skipped()) return true;
    stack_.push_null();
    return counted();
  }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  struct Frame {
    Place place;
    std::size_t kept = 0;  // values pushed for this container so far
  };

  // The same places when nothing is left out, so that pod_members is known in both modes.
  static Place child_place_when_whole(Place parent, std::string_view key) {
    if (parent == Place::root && key == field::request) return Place::request;
    if (parent == Place::request && key == field::object) return Place::pod;
    return Place::kept;
  }

  bool begin(bool object) {
    if (skipping_) {
      ++skipping_;
      return true;
    }
    if (skip_next_) {
      skip_next_ = false;
      skipping_ = 1;
      return true;
    }
    Place place = Place::root;
    if (!frames_.empty()) {
      Place parent = frames_.back().place;
      // An element of a container list is a container; a member's place was decided with its key.
      place = parent == Place::container_list ? (object ? Place::container : Place::kept) : next_;
    }
    // A list where an object was expected (or the reverse) is kept whole: the mutation reports it as malformed.
    if (!object && place != Place::container_list) place = Place::kept;
    if (object && place == Place::container_list) place = Place::kept;
    frames_.push_back({place});
    next_ = Place::kept;
    return true;
  }
  bool end_skipped() {
    --skipping_;
    return true;
  }
  // A scalar in a skipped subtree or the value of a member left out.
  bool scalar_skipped() {
    if (skipping_) return true;
    if (skip_next_) {
      skip_next_ = false;
      return true;
    }
    return false;
  }
  bool counted() {
    if (!frames_.empty()) ++frames_.back().kept;
    next_ = Place::kept;
    return true;
  }

  json::value_stack stack_;
  json::storage_ptr sp_;
  bool whole_;
  std::vector<Frame> frames_;
  std::string key_;
  Place next_ = Place::kept;
  bool skip_next_ = false;
  std::size_t skipping_ = 0;  // depth inside a subtree being left out
  std::size_t pod_members_ = 0;
};

}  // namespace

ReviewJson parse_review_json(std::string_view body, json::storage_ptr sp, bool whole, json::error_code& ec) {
  unsigned char temp[4096];
  json::basic_parser<PruningHandler> parser(json::parse_options(), sp, whole, temp, sizeof temp);
  std::size_t used = parser.write_some(false, body.data(), body.size(), ec);
  if (!ec && used != body.size()) ec = json::error::extra_data;
  if (ec) return {};
  // Constructed, not assigned: assigning would copy the document out of `sp` into the default storage.
  return ReviewJson{parser.handler().release(), parser.handler().pod_members()};
}

}  // namespace azwi::webhook
