#include "imds/token_request.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <strings.h>

#include "common/text.hpp"

namespace azwi::imds {
namespace {
constexpr std::string_view kMetadata = "/metadata";
constexpr std::string_view kTokenRest = "/identity/oauth2/token";


Error invalid(std::string description) { return Error{400, "invalid_request", std::move(description), std::nullopt}; }
}  // namespace

bool is_token_path(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  // msal4j (Java's azure-identity) joins AZURE_POD_IDENTITY_AUTHORITY_HOST and the path with an extra slash
  // ("//metadata/..."); a request for the token path is still one.
  while (path.starts_with("//")) path.remove_prefix(1);
  if (path.size() < kMetadata.size() || !ascii::iequals(path.substr(0, kMetadata.size()), kMetadata)) return false;
  path.remove_prefix(kMetadata.size());
  if (path.size() == kTokenRest.size() + 1 && path.back() == '/') path.remove_suffix(1);
  return path == kTokenRest;
}

std::variant<TokenRequest, Error> parse_token_request(const RequestView& req, std::string_view default_client_id) {
  if (req.method != "GET") {
    return Error{405, "invalid_request", "the token endpoint accepts only GET; got " + std::string(req.method),
                 std::nullopt};
  }
  if (!req.metadata_header || !ascii::iequals(*req.metadata_header, "true")) {
    return invalid("Required metadata header not specified");
  }
  if (req.has_forwarded_for) {
    return invalid("requests carrying an X-Forwarded-For header are refused: IMDS serves only local callers");
  }
  return parse_token_query(req.target, default_client_id);
}

std::variant<TokenRequest, Error> parse_token_query(std::string_view target, std::string_view default_client_id) {
  auto url = boost::urls::parse_origin_form(target);
  if (!url) return invalid("the request target is not a valid URL");

  TokenRequest out;
  bool have_api_version = false, have_resource = false;
  std::string rejected_selector;
  for (auto param : url->params()) {
    // The first occurrence wins, as Go's url.Values.Get does for the upstream proxy.
    if (param.key == "api-version" && !have_api_version) {
      out.api_version = param.value;
      have_api_version = !out.api_version.empty();
    } else if (param.key == "resource" && !have_resource) {
      out.resource = param.value;
      have_resource = !out.resource.empty();
    } else if (param.key == "client_id" && out.client_id.empty()) {
      out.client_id = param.value;
    } else if ((param.key == "object_id" || param.key == "msi_res_id" || param.key == "mi_res_id" ||
                param.key == "principal_id") &&
               rejected_selector.empty() && !param.value.empty()) {
      rejected_selector = param.key;
    }
  }
  if (!have_api_version) return invalid("Required query variable 'api-version' was not specified");
  if (!have_resource) return invalid("Required query variable 'resource' was not specified");
  if (!rejected_selector.empty()) {
    return invalid("'" + rejected_selector +
                   "' is not supported: this endpoint selects identities by client ID only; use client_id=<the "
                   "identity's client ID> or omit it to use AZURE_CLIENT_ID");
  }
  if (out.client_id.empty()) {
    if (default_client_id.empty()) {
      return invalid("Identity not found: the request names no client_id and AZURE_CLIENT_ID is not set");
    }
    out.client_id = default_client_id;
  }
  return out;
}

}  // namespace azwi::imds
