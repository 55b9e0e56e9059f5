#include "emulator/control.hpp"

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace azwi::emulator {
namespace json = boost::json;

namespace {
Reply method_not_allowed(const char* allow) {
  Reply r = json_error(405, "method_not_allowed", std::string("allowed: ") + allow);
  r.headers.emplace_back("Allow", allow);
  return r;
}

// An empty body counts as {}.
std::optional<json::object> body_object(std::string_view body) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return json::object{};
  json::error_code ec;
  auto v = json::parse(body, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

json::array strings(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.push_back(json::string(s));
  return a;
}
}  // namespace

std::optional<Reply> handle_control(ControlContext& ctx, std::string_view method, std::string_view path,
                                    std::string_view body) {
  if (!path.starts_with("/_emulator/")) return std::nullopt;
  std::string_view what = path.substr(std::string_view("/_emulator/").size());

  if (what == "stats") {
    if (method != "GET") return method_not_allowed("GET");
    return json_reply(200, json::serialize(ctx.log.stats()));
  }
  if (what == "requests") {
    if (method == "GET") return json_reply(200, json::serialize(ctx.log.requests()));
    if (method == "DELETE") {
      ctx.log.clear();
      return Reply{204, "", "application/json; charset=utf-8", {}};
    }
    return method_not_allowed("GET, DELETE");
  }
  if (what == "faults") {
    if (method == "GET") return json_reply(200, json::serialize(ctx.faults.describe()));
    if (method == "DELETE") {
      ctx.faults.clear();
      return json_reply(200, json::serialize(ctx.faults.describe()));
    }
    if (method == "PUT") {
      auto obj = body_object(body);
      if (!obj) return json_error(400, "invalid_request", "the body must be a JSON object");
      try {
        ctx.faults.apply(parse_fault_settings(*obj));
      } catch (const std::invalid_argument& e) {
        return json_error(400, "invalid_request", e.what());
      }
      return json_reply(200, json::serialize(ctx.faults.describe()));
    }
    return method_not_allowed("GET, PUT, DELETE");
  }
  if (what == "rotate-keys") {
    if (method != "POST") return method_not_allowed("POST");
    auto obj = body_object(body);
    if (!obj) return json_error(400, "invalid_request", "the body must be a JSON object");
    std::string ring = "issuer";
    std::vector<jwt::Alg> algs;
    if (auto it = obj->find("ring"); it != obj->end()) {
      if (!it->value().is_string() || (it->value().as_string() != "issuer" && it->value().as_string() != "entra"))
        return json_error(400, "invalid_request", "\"ring\" must be \"issuer\" or \"entra\"");
      ring = std::string(it->value().as_string());
    }
    if (auto it = obj->find("alg"); it != obj->end()) {
      auto alg = it->value().is_string() ? jwt::parse_alg(it->value().as_string()) : std::nullopt;
      if (!alg) return json_error(400, "invalid_request", "\"alg\" must be \"RS256\" or \"ES256\"");
      algs.push_back(*alg);
    }
    KeyRing& keys = ring == "issuer" ? ctx.issuer_keys : ctx.entra_keys;
    auto r = keys.rotate(unix_seconds(ctx.clock.now()), algs);
    json::object o;
    o["ring"] = ring;
    o["retired"] = strings(r.retired);
    o["created"] = strings(r.created);
    return json_reply(200, json::serialize(o));
  }
  if (what == "info") {
    if (method != "GET") return method_not_allowed("GET");
    return json_reply(200, json::serialize(ctx.info()));
  }
  return json_error(404, "not_found", "unknown control endpoint " + std::string(path));
}

}  // namespace azwi::emulator
