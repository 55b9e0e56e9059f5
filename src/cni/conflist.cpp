#include "cni/conflist.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>

#include "cni/plugin.hpp"

namespace azwi::cni {
namespace json = boost::json;
namespace {

bool is_ours(const json::value& plugin) {
  const json::object* o = plugin.if_object();
  const json::value* type = o ? o->if_contains("type") : nullptr;
  return type && type->is_string() && type->get_string() == kPluginType;
}

}  // namespace

std::optional<std::string> chosen_config(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  for (const auto& n : names)
    if (n.ends_with(".conf") || n.ends_with(".conflist") || n.ends_with(".json")) return n;
  return std::nullopt;
}

Chained with_plugin(std::string_view text, const json::object& entry) {
  json::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return {"", "not JSON: " + ec.message()};
  if (!v.is_object()) return {"", "not a JSON object"};
  json::object config = std::move(v.get_object());
  if (!config.contains("plugins")) {
    if (!config.contains("type")) return {"", "neither a conflist (\"plugins\") nor a plugin (\"type\")"};
    json::object list;
    for (const char* key : {"cniVersion", "name"})
      if (const json::value* k = config.if_contains(key)) list[key] = *k;
    config.erase("name");
    list["plugins"] = json::array{std::move(config)};
    config = std::move(list);
  }
  json::array* plugins = config["plugins"].if_array();
  if (!plugins) return {"", "\"plugins\" is not an array"};
  plugins->erase(std::remove_if(plugins->begin(), plugins->end(), is_ours), plugins->end());
  if (plugins->empty()) return {"", "no plugin to chain after (the list is empty)"};
  plugins->emplace_back(entry);
  return {json::serialize(config) + "\n", ""};
}

}  // namespace azwi::cni
