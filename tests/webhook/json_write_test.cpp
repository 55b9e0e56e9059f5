// The webhook's JSON writer against Boost's serializer.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

#include "webhook/json_write.hpp"

TEST(JsonWrite, ProducesTheSameDocumentAsBoostsSerializer) {
  const char* docs[] = {
      R"({"a":1,"b":[true,false,null],"c":{"d":"e","f":-12,"g":18446744073709551615,"h":[]},"i":{}})",
      R"(["quote \" backslash \\ slash / newline \n tab \t control \u0001 unicode é ☃",""])",
      R"({"op":"add","path":"/spec/containers/0/env/-","value":{"name":"X","value":"y"}})",
      R"([1.5,-0.25,1e300,0])",
      R"("just a string")",
      R"(42)",
  };
  for (const char* text : docs) {
    boost::json::value v = boost::json::parse(text);
    std::string out;
    azwi::webhook::append_json(out, v);
    EXPECT_EQ(boost::json::parse(out), v) << out;
    // Without control characters the bytes are Boost's too (Boost spells \u0001 the same; only \b and \f differ).
    EXPECT_EQ(out, boost::json::serialize(v));
  }
}
