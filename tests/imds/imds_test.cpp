#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "imds/app_service.hpp"
#include "imds/token_request.hpp"
#include "imds/token_response.hpp"

using namespace azwi::imds;

namespace {
RequestView get(std::string_view target, std::optional<std::string_view> metadata = "true") {
  return RequestView{"GET", target, metadata, false};
}
Error error_of(const std::variant<TokenRequest, Error>& r) {
  EXPECT_TRUE(std::holds_alternative<Error>(r));
  return std::holds_alternative<Error>(r) ? std::get<Error>(r) : Error{};
}
}  // namespace

TEST(TokenPath, MatchesMetadataCaseInsensitivelyAndOneTrailingSlash) {
  EXPECT_TRUE(is_token_path("/metadata/identity/oauth2/token"));
  EXPECT_TRUE(is_token_path("/Metadata/identity/oauth2/token?api-version=1"));
  EXPECT_TRUE(is_token_path("/METADATA/identity/oauth2/token/"));
  EXPECT_FALSE(is_token_path("/metadata/identity/oauth2/token//"));
  EXPECT_FALSE(is_token_path("/metadata/identity/oauth2/tokens"));
  EXPECT_FALSE(is_token_path("/metadata/instance"));
  EXPECT_FALSE(is_token_path("/metadata"));
  EXPECT_FALSE(is_token_path("/xmetadata/identity/oauth2/token"));
}

// Java's azure-identity (msal4j 1.23) asks AZURE_POD_IDENTITY_AUTHORITY_HOST for "//metadata/identity/oauth2/token".
TEST(TokenPath, RepeatedLeadingSlashesCountAsOne) {
  EXPECT_TRUE(is_token_path("//metadata/identity/oauth2/token?api-version=2018-02-01"));
  EXPECT_TRUE(is_token_path("///metadata/identity/oauth2/token"));
  EXPECT_FALSE(is_token_path("/metadata//identity/oauth2/token"));
}

TEST(TokenRequestRules, AcceptsTheSdkRequestAndDecodesTheResource) {
  auto r = parse_token_request(get("/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net"), "default-id");
  ASSERT_TRUE(std::holds_alternative<TokenRequest>(r));
  auto t = std::get<TokenRequest>(r);
  EXPECT_EQ(t.resource, "https://vault.azure.net");
  EXPECT_EQ(t.client_id, "default-id");
  EXPECT_EQ(t.api_version, "2018-02-01");
}

TEST(TokenRequestRules, ClientIdInTheQueryWinsOverTheDefault) {
  auto r = parse_token_request(get("/metadata/identity/oauth2/token?api-version=1&resource=r&client_id=abc"), "def");
  EXPECT_EQ(std::get<TokenRequest>(r).client_id, "abc");
}

TEST(TokenRequestRules, OnlyGet) {
  auto e = error_of(parse_token_request(RequestView{"POST", "/metadata/identity/oauth2/token?api-version=1&resource=r", "true", false}, "c"));
  EXPECT_EQ(e.status, 405u);
}

TEST(TokenRequestRules, MetadataHeaderRequired) {
  auto e = error_of(parse_token_request(get("/metadata/identity/oauth2/token?api-version=1&resource=r", std::nullopt), "c"));
  EXPECT_EQ(e.status, 400u);
  EXPECT_EQ(e.error, "invalid_request");
  EXPECT_EQ(e.description, "Required metadata header not specified");
  e = error_of(parse_token_request(get("/metadata/identity/oauth2/token?api-version=1&resource=r", "false"), "c"));
  EXPECT_EQ(e.description, "Required metadata header not specified");
  auto ok = parse_token_request(get("/metadata/identity/oauth2/token?api-version=1&resource=r", "True"), "c");
  EXPECT_TRUE(std::holds_alternative<TokenRequest>(ok));
}

TEST(TokenRequestRules, ForwardedRequestsAreRefused) {
  auto e = error_of(parse_token_request(RequestView{"GET", "/metadata/identity/oauth2/token?api-version=1&resource=r", "true", true}, "c"));
  EXPECT_EQ(e.status, 400u);
  EXPECT_NE(e.description.find("X-Forwarded-For"), std::string::npos);
}

TEST(TokenRequestRules, ApiVersionAndResourceRequired) {
  auto e = error_of(parse_token_request(get("/metadata/identity/oauth2/token?resource=r"), "c"));
  EXPECT_NE(e.description.find("api-version"), std::string::npos);
  EXPECT_NE(e.description.find("not specified"), std::string::npos);
  e = error_of(parse_token_request(get("/metadata/identity/oauth2/token?api-version=&resource=r"), "c"));
  EXPECT_NE(e.description.find("api-version"), std::string::npos);
  e = error_of(parse_token_request(get("/metadata/identity/oauth2/token?api-version=1"), "c"));
  EXPECT_NE(e.description.find("resource"), std::string::npos);
}

TEST(TokenRequestRules, OtherIdentitySelectorsAreExplained) {
  for (std::string key : {"object_id", "msi_res_id", "mi_res_id"}) {
    auto e = error_of(parse_token_request(get("/metadata/identity/oauth2/token?api-version=1&resource=r&" + key + "=x"), "c"));
    EXPECT_EQ(e.status, 400u);
    EXPECT_NE(e.description.find(key), std::string::npos) << e.description;
    EXPECT_NE(e.description.find("client ID"), std::string::npos) << e.description;
  }
}

TEST(TokenRequestRules, NoIdentityAtAllIsA400SayingSo) {
  auto e = error_of(parse_token_request(get("/metadata/identity/oauth2/token?api-version=1&resource=r"), ""));
  EXPECT_EQ(e.status, 400u);
  EXPECT_NE(e.description.find("Identity not found"), std::string::npos);
  EXPECT_NE(e.description.find("AZURE_CLIENT_ID"), std::string::npos);
}

TEST(TokenRequestRules, MalformedQueryIsA400NotACrash) {
  auto r = parse_token_request(get("/metadata/identity/oauth2/token?api-version=1&resource=%zz"), "c");
  EXPECT_TRUE(std::holds_alternative<Error>(r));
}

TEST(TokenAnswerFormat, EveryNumberIsAStringAndExpiresInIsRecomputed) {
  TokenAnswer a{"tok\"en", "cid", "https://vault.azure.net", 2000, 2500, 1000};
  auto body = render_token_body(a, 1400);
  auto v = boost::json::parse(body).as_object();
  EXPECT_EQ(v.at("access_token").as_string(), "tok\"en");
  EXPECT_EQ(v.at("client_id").as_string(), "cid");
  EXPECT_EQ(v.at("expires_in").as_string(), "600");
  EXPECT_EQ(v.at("expires_on").as_string(), "2000");
  EXPECT_EQ(v.at("ext_expires_in").as_string(), "1100");
  EXPECT_EQ(v.at("not_before").as_string(), "1000");
  EXPECT_EQ(v.at("refresh_token").as_string(), "");
  EXPECT_EQ(v.at("resource").as_string(), "https://vault.azure.net");
  EXPECT_EQ(v.at("token_type").as_string(), "Bearer");
  EXPECT_EQ(v.size(), 9u);
}

TEST(TokenAnswerFormat, ExpiresInNeverZeroOrNegative) {
  TokenAnswer a{"t", "c", "r", 2000, 2000, 1000};
  auto v = boost::json::parse(render_token_body(a, 2100)).as_object();
  EXPECT_EQ(v.at("expires_in").as_string(), "1");
}

TEST(ErrorFormat, IsTheImdsJsonShape) {
  auto v = boost::json::parse(render_error_body({400, "invalid_request", "bad \"thing\"\n", std::nullopt})).as_object();
  EXPECT_EQ(v.at("error").as_string(), "invalid_request");
  EXPECT_EQ(v.at("error_description").as_string(), "bad \"thing\"\n");
}

namespace {
AppServiceRequestView app(std::string_view target, std::optional<std::string_view> header = "s3cret") {
  return AppServiceRequestView{"GET", target, header};
}
}  // namespace

TEST(AppServicePath, MatchesTheEndpointAndOneTrailingSlash) {
  EXPECT_TRUE(is_app_service_path("/msi/token"));
  EXPECT_TRUE(is_app_service_path("/msi/token/?api-version=2019-08-01"));
  EXPECT_FALSE(is_app_service_path("/msi/token//"));
  EXPECT_FALSE(is_app_service_path("/msi/tokens"));
  EXPECT_FALSE(is_app_service_path("/metadata/identity/oauth2/token"));
}

TEST(AppServiceRequestRules, AcceptsTheSdkRequestWithTheRightSecret) {
  auto r = parse_app_service_request(app("/msi/token?api-version=2019-08-01&resource=https%3A%2F%2Fvault.azure.net"),
                                     "s3cret", "default-id");
  ASSERT_TRUE(std::holds_alternative<TokenRequest>(r));
  EXPECT_EQ(std::get<TokenRequest>(r).resource, "https://vault.azure.net");
  EXPECT_EQ(std::get<TokenRequest>(r).client_id, "default-id");
  auto named = parse_app_service_request(app("/msi/token?api-version=2019-08-01&resource=r&client_id=c2"), "s3cret", "d");
  EXPECT_EQ(std::get<TokenRequest>(named).client_id, "c2");
}

TEST(AppServiceRequestRules, TheSecretMustMatchExactlyAndIsCheckedFirst) {
  for (std::optional<std::string_view> header : {std::optional<std::string_view>(), std::optional<std::string_view>(""),
                                                 std::optional<std::string_view>("s3cre"),
                                                 std::optional<std::string_view>("s3cret "),
                                                 std::optional<std::string_view>("S3CRET")}) {
    // A request broken in every other way too: an unauthenticated caller learns nothing about its query.
    auto e = error_of(parse_app_service_request(app("/msi/token?api-version=1", header), "s3cret", ""));
    EXPECT_EQ(e.status, 401u);
    EXPECT_NE(e.description.find("X-IDENTITY-HEADER"), std::string::npos);
    if (header && !header->empty()) {
      EXPECT_EQ(e.description.find(*header), std::string::npos) << e.description;
    }
  }
  // No secret configured: nothing matches, not even an empty header.
  EXPECT_EQ(error_of(parse_app_service_request(app("/msi/token?api-version=2019-08-01&resource=r", ""), "", "c")).status,
            401u);
}

TEST(AppServiceRequestRules, OnlyGetAndOnlyApiVersion20190801) {
  EXPECT_EQ(error_of(parse_app_service_request(AppServiceRequestView{"POST", "/msi/token", "s3cret"}, "s3cret", "c")).status,
            405u);
  auto e = error_of(parse_app_service_request(app("/msi/token?api-version=2017-09-01&resource=r"), "s3cret", "c"));
  EXPECT_EQ(e.status, 400u);
  EXPECT_NE(e.description.find("2019-08-01"), std::string::npos);
  EXPECT_EQ(error_of(parse_app_service_request(app("/msi/token?resource=r"), "s3cret", "c")).description,
            "Required query variable 'api-version' was not specified");
  EXPECT_EQ(error_of(parse_app_service_request(app("/msi/token?api-version=2019-08-01"), "s3cret", "c")).description,
            "Required query variable 'resource' was not specified");
}

TEST(AppServiceRequestRules, OtherSelectorsAreExplainedAsIMDSDoes) {
  for (std::string_view selector : {"object_id", "principal_id", "mi_res_id", "msi_res_id"}) {
    auto e = error_of(parse_app_service_request(
        app("/msi/token?api-version=2019-08-01&resource=r&" + std::string(selector) + "=x"), "s3cret", "c"));
    EXPECT_EQ(e.status, 400u);
    EXPECT_NE(e.description.find(selector), std::string::npos) << e.description;
  }
}

TEST(AppServiceErrors, CarryBothTheAppServiceAndTheOAuthPair) {
  auto body = boost::json::parse(render_app_service_error_body({401, "unauthorized", "say \"why\"", std::nullopt}));
  EXPECT_EQ(body, boost::json::parse(R"({"statusCode":401,"message":"say \"why\"","error":"unauthorized",
    "error_description":"say \"why\""})"));
}
