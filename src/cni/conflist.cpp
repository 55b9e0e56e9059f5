#include "cni/conflist.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>

#include "cni/plugin.hpp"

namespace azwi::cni {
namespace json = boost::json;
namespace {

bool ends_with(std::string_view s, std::string_view suffix) { return s.ends_with(suffix); }

bool is_ours(const json::value& plugin) {
  const json::object* o = plugin.if_object();
  const json::value* type = o ? o->if_contains("type") : nullptr;
  return type && type->is_string() && type->get_string() == kPluginType;
}

// The configuration as a list, and whether it had to be converted from a single plugin.
std::variant<std::pair<json::object, bool>, std::string> as_list(std::string_view text) {
  json::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return "not JSON: " + ec.message();
  if (!v.is_object()) return std::string("not a JSON object");
  json::object config = std::move(v.get_object());
  if (const json::value* plugins = config.if_contains("plugins")) {
    if (!plugins->is_array()) return std::string("\"plugins\" is not an array");
    return std::pair{std::move(config), false};
  }
  if (!config.contains("type")) return std::string("neither a conflist (\"plugins\") nor a plugin (\"type\")");
  json::object list;
  for (const char* key : {"cniVersion", "name"})
    if (const json::value* k = config.if_contains(key)) list[key] = *k;
  config.erase("name");
  list["plugins"] = json::array{std::move(config)};
  return std::pair{std::move(list), true};
}

}  // namespace

std::optional<std::string> chosen_config(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  for (const auto& n : names)
    if (ends_with(n, ".conf") || ends_with(n, ".conflist") || ends_with(n, ".json")) return n;
  return std::nullopt;
}

std::variant<Edited, std::string> insert_plugin(std::string_view text, const json::object& entry) {
  auto parsed = as_list(text);
  if (auto* e = std::get_if<std::string>(&parsed)) return *e;
  auto& [config, converted] = std::get<0>(parsed);
  json::array& plugins = config["plugins"].as_array();
  if (!converted && !plugins.empty() && plugins.back() == json::value(entry) &&
      std::count_if(plugins.begin(), plugins.end(), is_ours) == 1)
    return Edited{false, std::string(text), false};
  plugins.erase(std::remove_if(plugins.begin(), plugins.end(), is_ours), plugins.end());
  if (plugins.empty()) return std::string("no plugin to chain after (the list is empty)");
  plugins.emplace_back(entry);
  return Edited{true, json::serialize(config) + "\n", converted};
}

std::variant<Edited, std::string> remove_plugin(std::string_view text) {
  auto parsed = as_list(text);
  if (auto* e = std::get_if<std::string>(&parsed)) return *e;
  auto& [config, converted] = std::get<0>(parsed);
  json::array& plugins = config["plugins"].as_array();
  auto before = plugins.size();
  plugins.erase(std::remove_if(plugins.begin(), plugins.end(), is_ours), plugins.end());
  if (plugins.size() == before) return Edited{false, std::string(text), false};
  return Edited{true, json::serialize(config) + "\n", converted};
}

}  // namespace azwi::cni
