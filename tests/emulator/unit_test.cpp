// Unit tests of the emulator's pure parts: form decoding, config parsing, fault decisions, the key ring's
// publication rule, and the Entra error shape.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <filesystem>
#include <set>

#include "emulator/arm.hpp"
#include "emulator/config.hpp"
#include "emulator/entra.hpp"
#include "emulator/faults.hpp"
#include "emulator/form.hpp"
#include "emulator/keyring.hpp"
#include "jwt/digest.hpp"
#include "jwt/jws.hpp"

using namespace azwi;
using namespace azwi::emulator;

TEST(Form, DecodesPlusPercentAndKeepsFirstOfRepeats) {
  auto f = parse_form("a=1+2&b=%2Fx%3d&a=3&empty=&flag");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->at("a"), "1 2");
  EXPECT_EQ(f->at("b"), "/x=");
  EXPECT_EQ(f->at("empty"), "");
  EXPECT_EQ(f->at("flag"), "");
  EXPECT_FALSE(parse_form("a=%zz"));
  EXPECT_FALSE(parse_form("a=%4"));
}

TEST(Config, ParsesAndDefaults) {
  auto dir = parse_directory(R"({"tenants":[{"id":"t","domains":["d.example"],"identities":[
      {"client_id":"c","federated_credentials":[{"subject":"s"}]}]}]})",
                             "test");
  ASSERT_EQ(dir.tenants.size(), 1u);
  EXPECT_EQ(dir.find_tenant("d.example"), &dir.tenants[0]);
  const auto* id = dir.tenants[0].find_identity("c");
  ASSERT_TRUE(id);
  EXPECT_EQ(id->federated_credentials[0].audiences, std::vector<std::string>{"api://AzureADTokenExchange"});
  resolve_defaults(dir, "https://self");
  id = dir.tenants[0].find_identity("c");
  EXPECT_EQ(id->federated_credentials[0].issuer, "https://self");
  EXPECT_EQ(id->object_id, derived_object_id("c"));
  EXPECT_EQ(id->object_id.size(), 36u);
  EXPECT_TRUE(dir.tenants[0].knows_resource("anything"));
}

TEST(Config, ErrorsNameTheMember) {
  auto fails_with = [](const char* text, const char* needle) {
    try {
      parse_directory(text, "cfg.json");
      ADD_FAILURE() << "accepted " << text;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  fails_with("nope", "not valid JSON");
  fails_with(R"({"tenants":{}})", "\"tenants\" must be an array");
  fails_with(R"({"tenants":[{"id":"t","identities":[{"federated_credentials":[]}]}]})",
             "tenants[0].identities[0]: \"client_id\" is required");
  fails_with(R"({"tenants":[{"id":"t","identities":[{"client_id":"c","federated_credentials":[{"subject":1}]}]}]})",
             "federated_credentials[0]: \"subject\" must be a string");
  fails_with(R"({"tenants":[{"id":"t"},{"id":"t"}]})", "appears twice");
}

TEST(Faults, FailNextCountsDownAndOutageExpires) {
  ManualClock clock;
  Faults faults(clock);
  EXPECT_FALSE(faults.decide().fail_status);
  FaultSettings s;
  s.fail_next = 2;
  s.fail_status = 429;
  s.retry_after = 5;
  faults.apply(s);
  auto d = faults.decide();
  EXPECT_EQ(d.fail_status, 429u);
  EXPECT_EQ(d.retry_after, 5);
  EXPECT_EQ(faults.decide().reason, "fail_next");
  EXPECT_FALSE(faults.decide().fail_status);

  FaultSettings outage;
  outage.outage_seconds = 10;
  faults.apply(outage);
  EXPECT_EQ(faults.decide().fail_status, 503u);
  clock.advance(std::chrono::seconds(11));
  EXPECT_FALSE(faults.decide().fail_status);
}

TEST(Faults, ParseRejectsUnknownAndOutOfRange) {
  auto obj = [](const char* t) { return boost::json::parse(t).as_object(); };
  EXPECT_EQ(parse_fault_settings(obj(R"({"latency_ms":5,"failure_rate":0.5})")).latency_ms, 5);
  EXPECT_THROW(parse_fault_settings(obj(R"({"bogus":1})")), std::invalid_argument);
  EXPECT_THROW(parse_fault_settings(obj(R"({"failure_rate":-0.1})")), std::invalid_argument);
  EXPECT_THROW(parse_fault_settings(obj(R"({"fail_status":600})")), std::invalid_argument);
  EXPECT_THROW(parse_fault_settings(obj(R"({"latency_ms":-1})")), std::invalid_argument);
}

TEST(KeyRing, RetiredKeyPublishedUntilLastTokenExpires) {
  auto dir = std::filesystem::temp_directory_path() / ("azwi-keyring-" + jwt::random_uuid());
  std::filesystem::create_directories(dir);
  {
    KeyRing ring(dir / "keys.json");
    ring.ensure(1000);
    auto first = ring.published(1000, 0);
    ASSERT_EQ(first.size(), 2u);  // RS256 + ES256
    jwt::Key old = ring.signing_key(jwt::Alg::RS256, 1600, 1000);  // a token valid until 1600
    auto r = ring.rotate(1100, {jwt::Alg::RS256});
    ASSERT_EQ(r.retired, std::vector<std::string>{old.kid()});
    auto kids = [&](std::int64_t now) {
      std::set<std::string> out;
      for (const auto& k : ring.published(now, 30)) out.insert(k.kid());
      return out;
    };
    EXPECT_TRUE(kids(1629).contains(old.kid()));
    EXPECT_FALSE(kids(1630).contains(old.kid()));
    EXPECT_TRUE(kids(1630).contains(r.created[0]));
    EXPECT_EQ(ring.signing_key(jwt::Alg::RS256, 2000, 1200).kid(), r.created[0]);
    // A second ring object on the same file (another process) sees the same keys.
    KeyRing other(dir / "keys.json");
    EXPECT_EQ(other.signing_key(jwt::Alg::RS256, 2000, 1200).kid(), r.created[0]);
  }
  std::filesystem::remove_all(dir);
}

TEST(Entra, ErrorShape) {
  ManualClock clock;
  auto a = entra_error(401, "invalid_client", 700213, "No match.", "https://h/", clock.now(), "corr-1");
  auto o = boost::json::parse(a.body).as_object();
  EXPECT_EQ(o["error"].as_string(), "invalid_client");
  EXPECT_EQ(o["error_codes"].as_array()[0].as_int64(), 700213);
  EXPECT_EQ(o["correlation_id"].as_string(), "corr-1");
  EXPECT_EQ(o["timestamp"].as_string(), "2023-11-14 22:13:20Z");
  EXPECT_TRUE(std::string(o["error_description"].as_string()).starts_with("AADSTS700213: No match.\r\nTrace ID: "));
  EXPECT_EQ(o["error_uri"].as_string(), "https://h/error?code=700213");
}

namespace {
// An ARM role over one tenant (identity "app" in resource group "rg") with a key ring of its own, on a manual clock.
struct ArmFixture {
  std::filesystem::path dir = std::filesystem::temp_directory_path() / ("azwi-arm-" + jwt::random_uuid());
  ManualClock clock;
  std::unique_ptr<KeyRing> keys;
  std::unique_ptr<DirectoryStore> store;
  std::unique_ptr<ArmService> arm;
  std::string sub = "11111111-2222-4333-8444-555555555555";
  std::string base = "/subscriptions/11111111-2222-4333-8444-555555555555/resourceGroups/rg/providers/"
                     "Microsoft.ManagedIdentity/userAssignedIdentities/app";

  explicit ArmFixture(std::int64_t propagation = 0) {
    std::filesystem::create_directories(dir);
    keys = std::make_unique<KeyRing>(dir / "entra-keys.json");
    keys->ensure(unix_seconds(clock.now()));
    Directory d = parse_directory(R"({"tenants":[{"id":"t1","subscription_id":")" + sub + R"(","identities":[
        {"name":"app","client_id":"c1","resource_group":"rg","federated_credentials":[]}]},
        {"id":"t2","identities":[]}]})",
                                  "test");
    resolve_defaults(d, "https://issuer");
    store = std::make_unique<DirectoryStore>(std::move(d));
    arm = std::make_unique<ArmService>(*store, *keys, clock, ArmOptions{propagation, 300});
  }
  ~ArmFixture() { std::filesystem::remove_all(dir); }

  std::string bearer(const std::string& tenant = "t1", const std::string& aud = "https://management.azure.com/") {
    std::int64_t now = unix_seconds(clock.now());
    boost::json::object c{{"aud", aud}, {"tid", tenant}, {"exp", now + 600}, {"iat", now}};
    return "Bearer " + jwt::sign(keys->signing_key(jwt::Alg::RS256, now + 600, now), c);
  }
  Reply call(const std::string& method, const std::string& path, const std::string& body = {},
             std::string auth = "") {
    if (auth.empty()) auth = bearer();
    auto r = arm->handle(method, path, "api-version=2023-01-31", auth, body);
    EXPECT_TRUE(r.has_value());
    return r.value_or(Reply{});
  }
  std::string code(const Reply& r) { return std::string(boost::json::parse(r.body).at("error").at("code").as_string()); }
};
constexpr const char* kCredentialBody =
    R"({"properties":{"issuer":"https://cluster.example/","subject":"system:serviceaccount:ns:sa","audiences":["api://AzureADTokenExchange"]}})";
}  // namespace

TEST(Arm, CreatesListsReplacesAndDeletesFederatedCredentialsOnTheDirectoryEntraReads) {
  ArmFixture f;
  auto created = f.call("PUT", f.base + "/federatedIdentityCredentials/ns-sa", kCredentialBody);
  EXPECT_EQ(created.status, 201u) << created.body;
  auto body = boost::json::parse(created.body).as_object();
  EXPECT_EQ(body.at("name").as_string(), "ns-sa");
  EXPECT_EQ(body.at("properties").at("subject").as_string(), "system:serviceaccount:ns:sa");
  // What Entra's token endpoint reads now holds it.
  const Identity* id = f.store->snapshot()->tenants[0].find_identity("c1");
  ASSERT_EQ(id->federated_credentials.size(), 1u);
  EXPECT_EQ(id->federated_credentials[0].issuer, "https://cluster.example/");
  EXPECT_EQ(f.call("PUT", f.base + "/federatedIdentityCredentials/ns-sa", kCredentialBody).status, 200u);

  auto listed = boost::json::parse(f.call("GET", f.base + "/federatedIdentityCredentials").body);
  EXPECT_EQ(listed.at("value").as_array().size(), 1u);
  auto identity = boost::json::parse(f.call("GET", f.base).body);
  EXPECT_EQ(identity.at("properties").at("clientId").as_string(), "c1");
  EXPECT_EQ(identity.at("properties").at("tenantId").as_string(), "t1");

  EXPECT_EQ(f.call("DELETE", f.base + "/federatedIdentityCredentials/ns-sa").status, 200u);
  EXPECT_EQ(f.call("DELETE", f.base + "/federatedIdentityCredentials/ns-sa").status, 204u);
  EXPECT_TRUE(f.store->snapshot()->tenants[0].find_identity("c1")->federated_credentials.empty());
  EXPECT_EQ(f.call("GET", f.base + "/federatedIdentityCredentials/ns-sa").status, 404u);
}

TEST(Arm, CredentialTakesEffectForEntraAfterThePropagationDelay) {
  ArmFixture f(/*propagation=*/45);
  // The issuer is a loopback port nothing listens on: once Entra uses the credential it tries the issuer's keys.
  const std::string issuer = "https://127.0.0.1:1";
  std::string body = R"({"properties":{"issuer":")" + issuer +
                     R"(","subject":"system:serviceaccount:ns:sa","audiences":["api://AzureADTokenExchange"]}})";
  ASSERT_EQ(f.call("PUT", f.base + "/federatedIdentityCredentials/ns-sa", body).status, 201u);
  Directory d = *f.store->snapshot();
  JwksCache jwks(http::ClientOptions{}, http::EgressProxySettings("", "", ""), f.clock, std::chrono::seconds(60));
  KeyRing entra_keys(f.dir / "token-keys.json");
  EntraService entra(std::move(d), jwks, entra_keys, f.clock, EntraOptions{"https://127.0.0.1:2/"});
  jwt::Key signer = jwt::Key::generate(jwt::Alg::RS256);
  auto exchange = [&] {
    std::int64_t now = unix_seconds(f.clock.now());
    std::string assertion = jwt::sign(signer, {{"iss", issuer}, {"sub", "system:serviceaccount:ns:sa"},
                                               {"aud", "api://AzureADTokenExchange"}, {"exp", now + 600}, {"iat", now}});
    return entra.token("t1", "application/x-www-form-urlencoded",
                       "grant_type=client_credentials&client_id=c1&scope=https%3A%2F%2Fvault.azure.net%2F.default"
                       "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
                       "&client_assertion=" + assertion,
                       "");
  };
  EXPECT_EQ(exchange().error_code, 700211);  // not yet: no credential with that issuer
  f.clock.advance(std::chrono::seconds(44));
  EXPECT_EQ(exchange().error_code, 700211);
  f.clock.advance(std::chrono::seconds(1));
  EXPECT_EQ(exchange().error_code, 50166);  // now it is used: Entra goes for the issuer's keys
}

TEST(Arm, RefusesCallersAndRequestsAsArmDoes) {
  ArmFixture f;
  EXPECT_FALSE(f.arm->handle("GET", "/t1/oauth2/v2.0/token", "", "", ""));  // not ARM's
  auto r = f.arm->handle("GET", f.base, "", f.bearer(), "");
  EXPECT_EQ(r->status, 400u);
  EXPECT_EQ(f.code(*r), "MissingApiVersionParameter");
  EXPECT_EQ(f.code(f.call("GET", f.base, "", "Basic x")), "AuthenticationFailed");
  EXPECT_EQ(f.code(f.call("GET", f.base, "", "Bearer not-a-jwt")), "InvalidAuthenticationToken");
  EXPECT_EQ(f.code(f.call("GET", f.base, "", f.bearer("t1", "https://vault.azure.net"))), "InvalidAuthenticationToken");
  EXPECT_EQ(f.code(f.call("GET", f.base, "", f.bearer("t2"))), "InvalidAuthenticationTokenTenant");
  // A token signed by another key ring.
  jwt::Key stranger = jwt::Key::generate(jwt::Alg::RS256);
  std::string forged = "Bearer " + jwt::sign(stranger, {{"aud", "https://management.azure.com/"}, {"tid", "t1"},
                                                         {"exp", unix_seconds(f.clock.now()) + 600}});
  EXPECT_EQ(f.call("GET", f.base, "", forged).status, 401u);
  std::string early = f.bearer();
  f.clock.advance(std::chrono::seconds(3600));
  EXPECT_EQ(f.code(f.call("GET", f.base, "", early)), "ExpiredAuthenticationToken");
  EXPECT_EQ(f.call("GET", f.base, "", f.bearer()).status, 200u);

  EXPECT_EQ(f.code(f.call("GET", "/subscriptions/nope/resourceGroups/rg/providers/Microsoft.ManagedIdentity/"
                                 "userAssignedIdentities/app")),
            "SubscriptionNotFound");
  EXPECT_EQ(f.call("GET", f.base + "x").status, 404u);
  EXPECT_EQ(f.call("PUT", f.base + "/federatedIdentityCredentials/a!", kCredentialBody).status, 400u);
  EXPECT_EQ(f.call("PUT", f.base + "/federatedIdentityCredentials/ok-name", "{}").status, 400u);
  ASSERT_EQ(f.call("PUT", f.base + "/federatedIdentityCredentials/first", kCredentialBody).status, 201u);
  auto dup = f.call("PUT", f.base + "/federatedIdentityCredentials/second", kCredentialBody);
  EXPECT_EQ(dup.status, 400u);
  EXPECT_NE(dup.body.find("'first' already has this issuer and subject"), std::string::npos) << dup.body;
}
