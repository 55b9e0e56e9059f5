#pragma once
// A stand-in for the non-identity part of the Azure Instance Metadata Service (/metadata/instance and friends), on
// plain HTTP like the real one, so the proxy's passthrough has a target in tests. Each answer echoes what arrived
// (method, path, query, headers) so a test can check what the proxy forwarded.
#include <map>
#include <string>
#include <string_view>

#include "emulator/reply.hpp"

namespace azwi::emulator {

struct ImdsRequest {
  std::string method;
  std::string target;  // path?query as received
  std::multimap<std::string, std::string> headers;
};

Reply handle_imds(const ImdsRequest& request);

}  // namespace azwi::emulator
