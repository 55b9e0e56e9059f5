#pragma once
// The test-only control API under /_emulator/: counters, the token request log, fault settings, key rotation.
// It has no authentication: the emulator is a local test tool and must never face an untrusted network.
#include <boost/json/object.hpp>
#include <functional>
#include <optional>
#include <string_view>

#include "common/clock.hpp"
#include "emulator/faults.hpp"
#include "emulator/keyring.hpp"
#include "emulator/reply.hpp"
#include "emulator/request_log.hpp"

namespace azwi::emulator {

struct ControlContext {
  RequestLog& log;
  Faults& faults;
  KeyRing& issuer_keys;
  KeyRing& entra_keys;
  Clock& clock;
  std::function<boost::json::object()> info;
};

// nullopt when the path is not under /_emulator/.
std::optional<Reply> handle_control(ControlContext& ctx, std::string_view method, std::string_view path,
                                    std::string_view body);

}  // namespace azwi::emulator
