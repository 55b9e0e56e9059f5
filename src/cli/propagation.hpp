#pragma once
// Waiting out the propagation of a new federated credential: Entra ID can answer "no matching federated identity
// record" (AADSTS70021, 700211, 700212, 700213) for a minute or two after the credential was created. The exchange is
// retried with backoff while that is the answer; any other answer ends the wait.
#include <chrono>
#include <string>

#include "common/clock.hpp"
#include "identity/entra_exchanger.hpp"
#include "identity/retry.hpp"

namespace azwi::cli {

struct ExchangeTarget {
  std::string authority_host, tenant, client_id, scope;
};

struct PropagationResult {
  bool accepted = false;
  int attempts = 0;
  std::chrono::milliseconds waited{0};
  int error_code = 0;   // the last AADSTS code, 0 when none
  std::string error;    // the last reason, empty when accepted
};

// True for the codes a credential Entra does not use yet produces.
bool is_propagation_code(int code);

// The default wait: 1, 2, 4, 8, 16, 16 ... s, up to two minutes.
identity::RetryPolicy propagation_policy();

PropagationResult await_federation(identity::HttpTransport& transport, Clock& clock, const identity::RetryPolicy& policy,
                                   const ExchangeTarget& target, const std::string& assertion);

}  // namespace azwi::cli
