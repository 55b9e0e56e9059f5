#pragma once
// `azwi-emulator decode-token`: a JWT's header and claims as indented JSON, without verifying anything.
#include <string>
#include <string_view>

#include <boost/json/value.hpp>

namespace azwi::emulator {

// Throws jwt::Error when the text is not a compact JWS.
std::string describe_token(std::string_view token);
std::string pretty_json(const boost::json::value& v);

}  // namespace azwi::emulator
