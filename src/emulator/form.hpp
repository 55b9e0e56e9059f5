#pragma once
// application/x-www-form-urlencoded bodies and URL query strings.
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace azwi::emulator {

using Form = std::map<std::string, std::string>;

// Decodes '+' as space and %XX escapes; the first occurrence of a repeated name wins. nullopt on a bad escape.
std::optional<Form> parse_form(std::string_view body);
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space);

}  // namespace azwi::emulator
