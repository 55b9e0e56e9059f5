#pragma once
// JSON text of boost::json values, appended to a string. Boost's serializer is general (resumable, any size) and
// costs several times more per value than this for the small objects a patch holds; the output is the same.
#include <boost/json/fwd.hpp>
#include <string>

namespace azwi::webhook {

void append_json(std::string& out, const boost::json::value& v);
void append_json(std::string& out, const boost::json::object& o);
void append_json(std::string& out, const boost::json::array& a);

}  // namespace azwi::webhook
