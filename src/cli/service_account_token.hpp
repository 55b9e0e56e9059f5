#pragma once
// A token the API server issues for a service account (TokenRequest): the same issuer, subject and audience as the
// token the kubelet projects into the account's pods. The token is a secret: callers decode or exchange it and never
// print it.
#include <string>
#include <variant>

namespace azwi::kube {
class ApiClient;
}

namespace azwi::cli {

struct BoundPod {
  std::string name, uid;  // empty: not bound to a pod
};

// Index 0: the token; 1: why there is none.
std::variant<std::string, std::string> request_service_account_token(kube::ApiClient& api, const std::string& ns,
                                                                      const std::string& service_account,
                                                                      const std::string& audience,
                                                                      const BoundPod& pod = {});

}  // namespace azwi::cli
