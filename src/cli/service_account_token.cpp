#include "cli/service_account_token.hpp"

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "cli/json_access.hpp"
#include "http/client_types.hpp"
#include "kube/client.hpp"

namespace azwi::cli {
namespace json = boost::json;

std::variant<std::string, std::string> request_service_account_token(kube::ApiClient& api, const std::string& ns,
                                                                      const std::string& service_account,
                                                                      const std::string& audience,
                                                                      const BoundPod& pod) {
  using Result = std::variant<std::string, std::string>;
  json::object spec{{"audiences", json::array{json::string(audience)}}, {"expirationSeconds", 600}};
  if (!pod.name.empty())
    spec["boundObjectRef"] = json::object{{"apiVersion", "v1"}, {"kind", "Pod"}, {"name", pod.name}, {"uid", pod.uid}};
  json::object body{{"apiVersion", "authentication.k8s.io/v1"}, {"kind", "TokenRequest"}, {"spec", std::move(spec)}};
  auto res = api.request("POST", "/api/v1/namespaces/" + http::form_encode(ns) + "/serviceaccounts/" +
                                     http::form_encode(service_account) + "/token",
                         json::serialize(body));
  if (!res.error.empty()) return Result(std::in_place_index<1>, res.error);
  if (res.status != 201 && res.status != 200)
    return Result(std::in_place_index<1>, "TokenRequest: " + kube::api_status_message(res.status, res.body));
  json::error_code ec;
  auto v = json::parse(res.body, ec);
  const json::object* status = !ec && v.is_object() ? object_at(v.get_object(), "status") : nullptr;
  std::string token = status ? string_at(*status, "token") : "";
  if (token.empty()) return Result(std::in_place_index<1>, "the TokenRequest answer holds no token");
  return Result(std::in_place_index<0>, std::move(token));
}

}  // namespace azwi::cli
