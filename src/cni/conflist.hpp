#pragma once
// The node's network configuration: which file the runtime reads, and the chain with azwi-cni appended. Pure
// functions of the text; the installer does the file work.
#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace azwi::cni {

// The file a runtime using libcni (containerd, CRI-O) takes from the configuration directory: the first name in
// byte order ending in .conf, .conflist or .json.
std::optional<std::string> chosen_config(std::vector<std::string> names);

// The configuration (a conflist, or a single-plugin .conf, which becomes a list) with `entry` (a plugin object with
// "type": "azwi-cni") as its last plugin; an azwi-cni entry elsewhere in it is dropped. The same input always gives
// the same text, and a result given back gives itself.
struct Chained {
  std::string text;   // the new configuration
  std::string error;  // what is wrong with the file; empty on success
};
Chained with_plugin(std::string_view text, const boost::json::object& entry);

}  // namespace azwi::cni
