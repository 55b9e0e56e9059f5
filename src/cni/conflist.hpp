#pragma once
// Editing the node's network configuration: which file the runtime reads, and that file with azwi-cni appended to
// (or removed from) its plugin chain. Pure functions of the text; the installer does the file work.
#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace azwi::cni {

// The file a runtime using libcni (containerd, CRI-O) takes from the configuration directory: the first name in
// byte order ending in .conf, .conflist or .json.
std::optional<std::string> chosen_config(std::vector<std::string> names);

struct Edited {
  bool changed = false;
  std::string text;           // the new file content (the old one when !changed)
  bool converted = false;     // a single-plugin .conf became a conflist: write it under a .conflist name
};

// Appends `entry` (a plugin object with "type": "azwi-cni") as the last plugin, replacing an earlier azwi-cni entry
// wherever it is; unchanged when it already is the last plugin, as given. A single-plugin configuration is turned
// into a list. Errors (text) name what is wrong with the file.
std::variant<Edited, std::string> insert_plugin(std::string_view text, const boost::json::object& entry);

// Removes every azwi-cni entry; unchanged when there is none.
std::variant<Edited, std::string> remove_plugin(std::string_view text);

}  // namespace azwi::cni
