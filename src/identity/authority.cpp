#include "identity/authority.hpp"

namespace azwi::identity {

std::string scope_for_resource(std::string_view resource) {
  constexpr std::string_view suffix = "/.default";
  std::string scope(resource);
  if (!resource.ends_with(suffix)) scope += suffix;
  return scope;
}

std::string token_endpoint(std::string_view authority_host, std::string_view tenant) {
  std::string url(authority_host);
  if (url.empty() || url.back() != '/') url += '/';
  url += tenant;
  url += "/oauth2/v2.0/token";
  return url;
}

}  // namespace azwi::identity
