#pragma once
#include <string>
#include <string_view>

namespace azwi::identity {

// IMDS takes a resource; Entra's v2 endpoint takes a scope: the resource with "/.default" appended unless it is
// already there ("http://database.windows.net/" -> "http://database.windows.net//.default", as Entra expects).
std::string scope_for_resource(std::string_view resource);

// {authority_host}{tenant}/oauth2/v2.0/token; a missing trailing slash on the host is tolerated.
std::string token_endpoint(std::string_view authority_host, std::string_view tenant);

// An authority host (or a token proxy's URL) as the Azure SDKs accept it: an absolute https URL (scheme matched
// case-insensitively and written lowercase) with a host, optionally a port and a path, without user info, query or
// fragment; returned ending with '/'. Throws std::invalid_argument saying what is wrong with it.
std::string normalize_authority_host(std::string_view value);

constexpr std::string_view kDefaultAuthorityHost = "https://login.microsoftonline.com/";

}  // namespace azwi::identity
