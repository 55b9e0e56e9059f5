// The real azwi-emulator binary over real HTTPS: success and every error code of the client-assertion flow, key
// rotation, mint-token --keep-fresh, fault injection, the control API, the IMDS responder, state reuse.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <csignal>
#include <filesystem>
#include <set>
#include <thread>

#include "common/base64.hpp"
#include "jwt/digest.hpp"
#include "jwt/jwks.hpp"
#include "jwt/jws.hpp"
#include "support/net.hpp"
#include "support/process.hpp"

namespace json = boost::json;
using namespace std::chrono_literals;
using azwi::test::ChildProcess;
using azwi::test::TempDir;

namespace {

constexpr const char* kTenant = "11111111-1111-1111-1111-111111111111";
constexpr const char* kClient = "22222222-2222-2222-2222-222222222222";
constexpr const char* kAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

json::value parse(const std::string& s) {
  json::error_code ec;
  auto v = json::parse(s, ec);
  EXPECT_FALSE(ec) << "not JSON: " << s;
  return v;
}

// Runs the binary to completion; returns exit code and output.
std::pair<int, std::string> run(std::vector<std::string> args, const std::string& log) {
  args.insert(args.begin(), EMULATOR_BIN);
  ChildProcess p(args, {}, log);
  auto code = p.wait_exit(30s);
  EXPECT_TRUE(code) << "command did not finish";
  return {code.value_or(-1), p.output()};
}

class Emulator {
 public:
  explicit Emulator(std::vector<std::string> extra = {}, const std::string& state_dir = "")
      : dir_("azwi-emu-test") {
    state_ = state_dir.empty() ? dir_.file("state") : state_dir;
    std::vector<std::string> argv = {EMULATOR_BIN, "serve", "--listen", "127.0.0.1:0", "--state-dir", state_,
                                     "--ready-file", dir_.file("ready"), "--log-format", "text",
                                     "--tenant-id", kTenant, "--client-id", kClient};
    // "{dir}" in an extra flag stands for this instance's temporary directory.
    for (auto& a : extra)
      if (auto p = a.find("{dir}"); p != std::string::npos) a.replace(p, 5, dir_.path());
    argv.insert(argv.end(), extra.begin(), extra.end());
    proc_ = std::make_unique<ChildProcess>(argv, std::map<std::string, std::string>{}, dir_.file("server.log"));
    auto ready = azwi::test::wait_for_file(dir_.file("ready"), 15s);
    if (!ready) ADD_FAILURE() << "emulator did not become ready:\n" << proc_->output();
    url_ = ready.value_or("");
  }
  const std::string& url() const { return url_; }
  const std::string& state() const { return state_; }
  std::string ca() const { return state_ + "/ca.crt"; }
  ChildProcess& process() { return *proc_; }
  std::string file(const std::string& name) const { return dir_.file(name); }

  azwi::http::ClientResponse get(const std::string& path, azwi::http::HeaderList headers = {}) {
    return azwi::test::http_request("GET", url_ + path, std::move(headers), "", ca());
  }
  azwi::http::ClientResponse send(const std::string& method, const std::string& path, const std::string& body) {
    return azwi::test::http_request(method, url_ + path, {{"Content-Type", "application/json"}}, body, ca());
  }
  // Mints a service-account token with mint-token; extra flags as given.
  std::string mint(std::vector<std::string> extra = {}) {
    std::string out = dir_.file("token-" + std::to_string(++mints_));
    std::vector<std::string> args = {"mint-token", "--state-dir", state_, "--out", out};
    args.insert(args.end(), extra.begin(), extra.end());
    auto [code, output] = run(args, out + ".log");
    EXPECT_EQ(code, 0) << output;
    return azwi::test::read_file(out);
  }
  azwi::http::ClientResponse token(const std::map<std::string, std::string>& form, const std::string& tenant = kTenant) {
    std::string body;
    for (const auto& [k, v] : form) body += (body.empty() ? "" : "&") + k + "=" + azwi::http::form_encode(v);
    return azwi::test::http_request("POST", url_ + tenant + "/oauth2/v2.0/token",
                                    {{"Content-Type", "application/x-www-form-urlencoded"}}, body, ca());
  }
  azwi::http::ClientResponse exchange(const std::string& assertion, const std::string& client = kClient,
                                      const std::string& tenant = kTenant,
                                      const std::string& scope = "https://vault.azure.net/.default") {
    return token({{"client_id", client},
                  {"scope", scope},
                  {"grant_type", "client_credentials"},
                  {"client_assertion_type", kAssertionType},
                  {"client_assertion", assertion}},
                 tenant);
  }

 private:
  TempDir dir_;
  std::string state_, url_;
  std::unique_ptr<ChildProcess> proc_;
  int mints_ = 0;
};

// Checks Entra's error shape and returns the description.
std::string expect_entra_error(const azwi::http::ClientResponse& res, long status, const std::string& error, int code) {
  EXPECT_EQ(res.status, status) << res.body;
  auto v = parse(res.body);
  if (!v.is_object()) return {};
  auto& o = v.as_object();
  EXPECT_EQ(o["error"].as_string(), error) << res.body;
  EXPECT_EQ(o["error_codes"].as_array().at(0).to_number<int>(), code) << res.body;
  std::string desc(o["error_description"].as_string());
  EXPECT_TRUE(desc.starts_with("AADSTS" + std::to_string(code) + ": ")) << desc;
  EXPECT_NE(desc.find("Trace ID: "), std::string::npos);
  EXPECT_NE(desc.find("Correlation ID: "), std::string::npos);
  EXPECT_EQ(o["trace_id"].as_string().size(), 36u);
  EXPECT_EQ(o["correlation_id"].as_string().size(), 36u);
  EXPECT_TRUE(o["timestamp"].as_string().ends_with("Z"));
  EXPECT_EQ(res.header("content-type").value_or(""), "application/json; charset=utf-8");
  return desc;
}

json::object claims_of(const std::string& token) { return azwi::jwt::parse(token).claims; }

std::set<std::string> kids(const std::string& jwks) {
  std::set<std::string> out;
  auto doc = parse(jwks);
  for (const auto& k : doc.at("keys").as_array()) out.insert(std::string(k.at("kid").as_string()));
  return out;
}

}  // namespace

TEST(Serve, IssuesAccessTokenForValidAssertion) {
  Emulator emu({"--token-lifetime", "1800"});
  std::string assertion = emu.mint({"--pod-name", "demo-pod"});
  auto res = emu.exchange(assertion);
  ASSERT_EQ(res.status, 200) << res.body;
  auto body = parse(res.body).as_object();
  EXPECT_EQ(body["token_type"].as_string(), "Bearer");
  EXPECT_TRUE(body["expires_in"].is_int64());
  EXPECT_EQ(body["expires_in"].as_int64(), 1800);
  EXPECT_EQ(body["ext_expires_in"].as_int64(), 1800);
  EXPECT_FALSE(body.contains("refresh_in"));
  std::string access(body["access_token"].as_string());

  auto jws = azwi::jwt::parse(access);
  auto& c = jws.claims;
  EXPECT_EQ(c["aud"].as_string(), "https://vault.azure.net");
  EXPECT_EQ(c["appid"].as_string(), kClient);
  EXPECT_EQ(c["azp"].as_string(), kClient);
  EXPECT_EQ(c["tid"].as_string(), kTenant);
  EXPECT_EQ(c["iss"].as_string(), emu.url() + kTenant + "/v2.0");
  EXPECT_EQ(c["oid"].as_string().size(), 36u);
  std::int64_t now = std::time(nullptr);
  EXPECT_NEAR(c["iat"].as_int64(), now, 5);
  EXPECT_EQ(c["nbf"].as_int64(), c["iat"].as_int64());
  EXPECT_EQ(c["exp"].as_int64() - c["iat"].as_int64(), 1800);

  // The access token verifies against the tenant's published keys, named by its openid-configuration.
  auto config = parse(emu.get(std::string(kTenant) + "/v2.0/.well-known/openid-configuration").body).as_object();
  EXPECT_EQ(config["token_endpoint"].as_string(), emu.url() + kTenant + "/oauth2/v2.0/token");
  EXPECT_EQ(config["issuer"].as_string(), emu.url() + kTenant + "/v2.0");
  std::string jwks_uri(config["jwks_uri"].as_string());
  auto keys = azwi::jwt::parse_jwks(azwi::test::http_request("GET", jwks_uri, {}, "", emu.ca()).body);
  auto found = keys.find(jws.kid);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_TRUE(azwi::jwt::verify(jws, *found[0]));

  // Secrets never reach the log; the request is logged with a fingerprint.
  std::string log = emu.process().output();
  EXPECT_EQ(log.find(assertion), std::string::npos);
  EXPECT_EQ(log.find(access), std::string::npos);
  EXPECT_NE(log.find("access_token_fingerprint=" + azwi::jwt::fingerprint(access)), std::string::npos) << log;
  EXPECT_NE(log.find("path=/" + std::string(kTenant) + "/oauth2/v2.0/token status=200"), std::string::npos) << log;
}

TEST(Serve, RefreshInWhenConfiguredAndEs256Assertions) {
  Emulator emu({"--token-lifetime", "7200", "--refresh-in", "3600"});
  auto res = emu.exchange(emu.mint({"--alg", "ES256"}));
  ASSERT_EQ(res.status, 200) << res.body;
  auto body = parse(res.body).as_object();
  EXPECT_EQ(body["expires_in"].as_int64(), 7200);
  EXPECT_EQ(body["refresh_in"].as_int64(), 3600);
  // The issuer publishes both algorithms.
  auto jwks = parse(emu.get("openid/v1/jwks").body);
  std::set<std::string> ktys;
  for (const auto& k : jwks.at("keys").as_array()) ktys.insert(std::string(k.at("kty").as_string()));
  EXPECT_EQ(ktys, (std::set<std::string>{"EC", "RSA"}));
}

TEST(Serve, IssuerDiscoveryAndMsalDiscoveryDocuments) {
  Emulator emu;
  std::string issuer = emu.url().substr(0, emu.url().size() - 1);
  EXPECT_EQ(azwi::test::read_file(emu.state() + "/issuer-url"), issuer);
  auto oidc = parse(emu.get(".well-known/openid-configuration").body).as_object();
  EXPECT_EQ(oidc["issuer"].as_string(), issuer);
  EXPECT_EQ(oidc["jwks_uri"].as_string(), issuer + "/openid/v1/jwks");
  EXPECT_TRUE(oidc.contains("response_types_supported"));
  EXPECT_TRUE(oidc.contains("subject_types_supported"));
  EXPECT_TRUE(oidc.contains("id_token_signing_alg_values_supported"));
  auto jwks = emu.get("openid/v1/jwks");
  EXPECT_EQ(jwks.status, 200);
  auto jwks_doc = parse(jwks.body);
  for (const auto& k : jwks_doc.at("keys").as_array()) EXPECT_EQ(k.at("use").as_string(), "sig");

  auto inst = emu.get("common/discovery/instance?api-version=1.1&authorization_endpoint=" +
                      azwi::http::form_encode(emu.url() + kTenant + "/oauth2/v2.0/authorize"));
  ASSERT_EQ(inst.status, 200);
  auto d = parse(inst.body).as_object();
  EXPECT_EQ(d["tenant_discovery_endpoint"].as_string(),
            emu.url() + kTenant + "/v2.0/.well-known/openid-configuration");
  EXPECT_EQ(d["metadata"].as_array().at(0).at("aliases").as_array().size(), 1u);

  auto unknown = emu.get("no-such-tenant/v2.0/.well-known/openid-configuration");
  expect_entra_error(unknown, 400, "invalid_tenant", 90002);
  EXPECT_EQ(emu.get("nothing/here").status, 404);
}

TEST(Errors, UnknownTenantIs90002) {
  Emulator emu;
  auto desc = expect_entra_error(emu.exchange(emu.mint(), kClient, "33333333-3333-3333-3333-333333333333"), 400,
                                 "invalid_request", 90002);
  EXPECT_NE(desc.find("Tenant '33333333-3333-3333-3333-333333333333' not found"), std::string::npos);
}

TEST(Errors, UnknownClientIs700016) {
  Emulator emu;
  auto desc = expect_entra_error(emu.exchange(emu.mint(), "44444444-4444-4444-4444-444444444444"), 400,
                                 "unauthorized_client", 700016);
  EXPECT_NE(desc.find("Application with identifier '44444444-4444-4444-4444-444444444444' was not found"),
            std::string::npos);
}

TEST(Errors, IssuerMismatchIs700211) {
  Emulator emu;
  auto desc = expect_entra_error(emu.exchange(emu.mint({"--issuer", "https://oidc.example.invalid/cluster"})), 401,
                                 "invalid_client", 700211);
  EXPECT_NE(desc.find("assertion issuer 'https://oidc.example.invalid/cluster'"), std::string::npos);
}

TEST(Errors, AudienceMismatchIs700212) {
  Emulator emu;
  auto desc =
      expect_entra_error(emu.exchange(emu.mint({"--audience", "api://SomethingElse"})), 401, "invalid_client", 700212);
  EXPECT_NE(desc.find("assertion audience 'api://SomethingElse'"), std::string::npos);
}

TEST(Errors, SubjectMismatchIs700213) {
  Emulator emu;
  auto desc = expect_entra_error(emu.exchange(emu.mint({"--namespace", "other", "--service-account", "intruder"})),
                                 401, "invalid_client", 700213);
  EXPECT_NE(desc.find("assertion subject 'system:serviceaccount:other:intruder'"), std::string::npos);
}

TEST(Errors, ExpiredOrNotYetValidAssertionIs700024) {
  Emulator emu({"--clock-skew", "60"});
  // Expired 10 minutes ago, well past the skew.
  auto desc = expect_entra_error(emu.exchange(emu.mint({"--lifetime", "600", "--time-offset", "-1200"})), 401,
                                 "invalid_client", 700024);
  EXPECT_NE(desc.find("Client assertion is not within its valid time range"), std::string::npos);
  // Valid only from an hour from now.
  expect_entra_error(emu.exchange(emu.mint({"--time-offset", "3600"})), 401, "invalid_client", 700024);
  // Within the skew either way is accepted.
  EXPECT_EQ(emu.exchange(emu.mint({"--lifetime", "600", "--time-offset", "-630"})).status, 200);
  EXPECT_EQ(emu.exchange(emu.mint({"--time-offset", "30"})).status, 200);
}

TEST(Errors, MalformedAssertionIs50027) {
  Emulator emu;
  for (std::string bad : {"not-a-jwt", "a.b.c", "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln"})
    expect_entra_error(emu.exchange(bad), 400, "invalid_request", 50027);
}

TEST(Errors, BadSignatureOrUnknownKeyIs700027) {
  Emulator emu;
  std::string token = emu.mint();
  std::string tampered = token;
  tampered[tampered.size() - 5] = tampered[tampered.size() - 5] == 'A' ? 'B' : 'A';
  auto desc = expect_entra_error(emu.exchange(tampered), 401, "invalid_client", 700027);
  EXPECT_NE(desc.find("The signature is invalid"), std::string::npos);

  // A token signed by a key the issuer never published.
  auto stranger = azwi::jwt::Key::generate(azwi::jwt::Alg::RS256);
  auto claims = claims_of(token);
  desc = expect_entra_error(emu.exchange(azwi::jwt::sign(stranger, claims)), 401, "invalid_client", 700027);
  EXPECT_NE(desc.find("The key was not found"), std::string::npos);
  // alg "none" is refused outright.
  std::string none = azwi::base64url_encode(R"({"alg":"none","typ":"JWT"})") + "." +
                     azwi::base64url_encode(json::serialize(claims)) + ".";
  expect_entra_error(emu.exchange(none), 400, "invalid_request", 5002730);
}

TEST(Errors, UnreachableIssuerIs50166) {
  // The identity trusts an issuer whose discovery endpoint nothing serves.
  std::uint16_t dead = azwi::test::free_port();
  std::string issuer = "https://127.0.0.1:" + std::to_string(dead);
  Emulator emu({"--issuer", issuer});
  auto desc = expect_entra_error(emu.exchange(emu.mint({"--issuer", issuer})), 401, "invalid_client", 50166);
  EXPECT_NE(desc.find(issuer + "/.well-known/openid-configuration"), std::string::npos) << desc;
}

TEST(Errors, RequestShapeErrors) {
  Emulator emu;
  std::string assertion = emu.mint();
  // scope without /.default
  auto desc = expect_entra_error(emu.exchange(assertion, kClient, kTenant, "https://vault.azure.net"), 400,
                                 "invalid_scope", 1002012);
  EXPECT_NE(desc.find("/.default"), std::string::npos);
  expect_entra_error(emu.exchange(assertion, kClient, kTenant, "https://a/.default https://b/.default"), 400,
                     "invalid_scope", 1002012);
  // missing parameters
  expect_entra_error(emu.token({{"client_id", kClient}, {"grant_type", "client_credentials"}}), 400, "invalid_request",
                     900144);
  expect_entra_error(emu.token({{"client_id", kClient},
                                {"scope", "https://vault.azure.net/.default"},
                                {"grant_type", "client_credentials"}}),
                     401, "invalid_client", 7000218);
  expect_entra_error(emu.token({{"client_id", kClient},
                                {"scope", "https://vault.azure.net/.default"},
                                {"grant_type", "password"},
                                {"client_assertion_type", kAssertionType},
                                {"client_assertion", assertion}}),
                     400, "unsupported_grant_type", 70003);
  expect_entra_error(azwi::test::http_request("GET", emu.url() + kTenant + "/oauth2/v2.0/token", {}, "", emu.ca()), 400,
                     "invalid_request", 900561);
  // a body that is not a form
  expect_entra_error(azwi::test::http_request("POST", emu.url() + kTenant + "/oauth2/v2.0/token",
                                              {{"Content-Type", "application/json"}}, "{}", emu.ca()),
                     400, "invalid_request", 900144);
}

TEST(Config, FileWithTenantsIdentitiesResourcesAndDomains) {
  TempDir dir("azwi-emu-config");
  azwi::test::write_file(dir.file("config.json"), R"({
    "tenants": [
      {"id": "aaaaaaaa-0000-0000-0000-000000000001", "domains": ["contoso.onmicrosoft.com"],
       "resources": ["https://vault.azure.net", "https://management.azure.com/"],
       "identities": [
         {"name": "app-one", "client_id": "c0000000-0000-0000-0000-000000000001",
          "object_id": "o0000000-0000-0000-0000-000000000001",
          "federated_credentials": [
            {"name": "kubernetes-federated-credential", "subject": "system:serviceaccount:apps:one",
             "audiences": ["api://AzureADTokenExchange"]}]},
         {"client_id": "c0000000-0000-0000-0000-000000000002",
          "federated_credentials": [{"subject": "system:serviceaccount:apps:two"}]}]}]})");
  Emulator emu({"--config", dir.file("config.json")});
  std::string one = emu.mint({"--namespace", "apps", "--service-account", "one"});
  std::string two = emu.mint({"--namespace", "apps", "--service-account", "two"});
  auto res = emu.exchange(one, "c0000000-0000-0000-0000-000000000001", "contoso.onmicrosoft.com");
  ASSERT_EQ(res.status, 200) << res.body;
  auto c = claims_of(std::string(parse(res.body).at("access_token").as_string()));
  EXPECT_EQ(c["oid"].as_string(), "o0000000-0000-0000-0000-000000000001");
  EXPECT_EQ(c["tid"].as_string(), "aaaaaaaa-0000-0000-0000-000000000001");
  // Resource URIs keep their trailing slash: "https://management.azure.com//.default" names "https://management.azure.com/".
  EXPECT_EQ(emu.exchange(two, "c0000000-0000-0000-0000-000000000002", "aaaaaaaa-0000-0000-0000-000000000001",
                         "https://management.azure.com//.default")
                .status,
            200);
  expect_entra_error(emu.exchange(two, "c0000000-0000-0000-0000-000000000002", "aaaaaaaa-0000-0000-0000-000000000001",
                                  "https://storage.azure.com/.default"),
                     400, "invalid_resource", 500011);
  // The identity of one service account cannot be used by the other.
  expect_entra_error(emu.exchange(two, "c0000000-0000-0000-0000-000000000001", "contoso.onmicrosoft.com"), 401,
                     "invalid_client", 700213);
  // The flags' identity lives beside the file's.
  EXPECT_EQ(emu.exchange(emu.mint()).status, 200);
}

TEST(Config, BadFileIsAClearStartupError) {
  TempDir dir("azwi-emu-badconfig");
  azwi::test::write_file(dir.file("config.json"), R"({"tenants":[{"identities":[]}]})");
  auto [code, output] = run({"serve", "--state-dir", dir.file("st"), "--config", dir.file("config.json")},
                            dir.file("log"));
  EXPECT_EQ(code, 1);
  EXPECT_NE(output.find("tenants[0]: \"id\" is required"), std::string::npos) << output;
}

TEST(State, CaCertificateAndKeysAreReusedAcrossStarts) {
  TempDir dir("azwi-emu-state");
  std::string state = dir.file("state");
  std::string ca, jwks, token;
  {
    Emulator first({}, state);
    ca = azwi::test::read_file(first.ca());
    jwks = first.get("openid/v1/jwks").body;
    token = first.mint({"--issuer", "https://fixed.example"});
  }
  Emulator second({"--san", "10.200.0.1,emulator.test"}, state);
  EXPECT_EQ(azwi::test::read_file(second.ca()), ca);
  EXPECT_EQ(kids(second.get("openid/v1/jwks").body), kids(jwks));
  // The re-issued serving certificate carries the extra names and is still trusted through the same CA.
  std::string sans = azwi::test::read_file(state + "/server.sans");
  EXPECT_NE(sans.find("IP:10.200.0.1"), std::string::npos) << sans;
  EXPECT_NE(sans.find("DNS:emulator.test"), std::string::npos) << sans;
  EXPECT_NE(sans.find("IP:127.0.0.1"), std::string::npos) << sans;
  EXPECT_EQ(second.get(".well-known/openid-configuration").status, 200);
  struct stat st {};
  ASSERT_EQ(::stat((state + "/ca.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((state + "/issuer-keys.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

// A CA the clients may already trust is never silently replaced: unreadable CA files stop the start and stay.
TEST(State, AnUnreadableCaIsAClearStartupErrorAndIsLeftAlone) {
  TempDir dir("azwi-emu-badca");
  std::string state = dir.file("state");
  std::filesystem::create_directories(state);
  azwi::test::write_file(state + "/ca.crt", "not a certificate");
  auto [code, output] = run({"serve", "--state-dir", state}, dir.file("log"));
  EXPECT_EQ(code, 1);
  EXPECT_NE(output.find("exist but cannot be read; remove both to create a new CA"), std::string::npos) << output;
  EXPECT_EQ(azwi::test::read_file(state + "/ca.crt"), "not a certificate");
  EXPECT_FALSE(std::filesystem::exists(state + "/server.crt"));
}

TEST(Keys, RotationKeepsRetiredKeyUntilItsTokensExpire) {
  Emulator emu({"--clock-skew", "1", "--jwks-cache-ttl", "300"});
  std::string old_token = emu.mint({"--lifetime", "4"});
  std::string old_kid = azwi::jwt::parse(old_token).kid;
  ASSERT_EQ(emu.exchange(old_token).status, 200);  // the exchange caches the issuer's JWKS

  auto rot = emu.send("POST", "_emulator/rotate-keys", R"({"alg":"RS256"})");
  ASSERT_EQ(rot.status, 200) << rot.body;
  auto r = parse(rot.body).as_object();
  ASSERT_EQ(r["retired"].as_array().size(), 1u);
  EXPECT_EQ(r["retired"].as_array()[0].as_string(), old_kid);
  std::string new_kid(r["created"].as_array()[0].as_string());

  auto published = kids(emu.get("openid/v1/jwks").body);
  EXPECT_TRUE(published.contains(old_kid));
  EXPECT_TRUE(published.contains(new_kid));
  // New tokens use the new key; Entra's cached JWKS lacks it and is refetched because the kid is unknown.
  std::string new_token = emu.mint({"--lifetime", "600"});
  EXPECT_EQ(azwi::jwt::parse(new_token).kid, new_kid);
  EXPECT_EQ(emu.exchange(new_token).status, 200);
  EXPECT_EQ(emu.exchange(old_token).status, 200);

  // Once the old token has expired (4 s + 1 s skew), its key leaves the JWKS.
  auto deadline = std::chrono::steady_clock::now() + 15s;
  while (kids(emu.get("openid/v1/jwks").body).contains(old_kid) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(250ms);
  published = kids(emu.get("openid/v1/jwks").body);
  EXPECT_FALSE(published.contains(old_kid));
  EXPECT_TRUE(published.contains(new_kid));
  auto late = emu.exchange(new_token);
  EXPECT_EQ(late.status, 200) << late.body;
}

TEST(Keys, RotateKeysCommandReachesRunningServer) {
  Emulator emu;
  auto before = kids(emu.get("openid/v1/jwks").body);
  auto [code, output] = run({"rotate-keys", "--state-dir", emu.state(), "--alg", "ES256"}, emu.file("rotate.log"));
  ASSERT_EQ(code, 0) << output;
  EXPECT_NE(output.find("created "), std::string::npos);
  auto after = kids(emu.get("openid/v1/jwks").body);
  // A never-used retired key has no live tokens, so it is not published: one key replaced.
  EXPECT_EQ(after.size(), before.size());
  EXPECT_NE(after, before);
  EXPECT_EQ(emu.exchange(emu.mint({"--alg", "ES256"})).status, 200);
  // The access-token keys rotate too.
  auto entra_before = kids(emu.get(std::string(kTenant) + "/discovery/v2.0/keys").body);
  ASSERT_EQ(emu.send("POST", "_emulator/rotate-keys", R"({"ring":"entra"})").status, 200);
  EXPECT_NE(kids(emu.get(std::string(kTenant) + "/discovery/v2.0/keys").body), entra_before);
  EXPECT_EQ(emu.send("POST", "_emulator/rotate-keys", R"({"ring":"nope"})").status, 400);
}

TEST(MintToken, KeepFreshRewritesAtomicallyAtEightyPercent) {
  Emulator emu;
  std::string out = emu.file("kept-token");
  ChildProcess minter({EMULATOR_BIN, "mint-token", "--state-dir", emu.state(), "--out", out, "--lifetime", "3",
                       "--keep-fresh"},
                      {}, emu.file("keep-fresh.log"));
  auto first = azwi::test::wait_for_file(out, 10s);
  ASSERT_TRUE(first) << minter.output();
  struct stat st {};
  ASSERT_EQ(::stat(out.c_str(), &st), 0);
  ino_t first_inode = st.st_ino;
  auto first_iat = claims_of(*first)["iat"].as_int64();

  // Watch for ~6.5 s: every read must be a whole token; a new token (and a new inode: rename) every 2.4 s.
  std::set<std::string> seen{*first};
  std::set<ino_t> inodes{first_inode};
  auto start = std::chrono::steady_clock::now();
  std::chrono::milliseconds first_change{0};
  while (std::chrono::steady_clock::now() - start < 6500ms) {
    std::string now = azwi::test::read_file(out);
    ASSERT_NO_THROW(azwi::jwt::parse(now)) << "partial token read: '" << now << "'";
    if (!seen.contains(now) && first_change.count() == 0)
      first_change = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    seen.insert(now);
    if (::stat(out.c_str(), &st) == 0) inodes.insert(st.st_ino);
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_GE(seen.size(), 3u);
  EXPECT_LE(seen.size(), 4u);
  EXPECT_GE(inodes.size(), 3u);
  EXPECT_GE(first_change.count(), 1900);  // not before 80% of 3 s (less the time to see the first file)
  EXPECT_LE(first_change.count(), 3000);
  for (const auto& t : seen) {
    auto c = claims_of(t);
    EXPECT_EQ(c["exp"].as_int64() - c["iat"].as_int64(), 3);
    EXPECT_GE(c["iat"].as_int64(), first_iat);
  }
  // The latest token is accepted by Entra.
  EXPECT_EQ(emu.exchange(azwi::test::read_file(out)).status, 200);
  minter.signal(SIGTERM);
  EXPECT_EQ(minter.wait_exit(5s), 0);
}

TEST(MintToken, WithoutIssuerOrServerIsAClearError) {
  TempDir dir("azwi-emu-mint");
  auto [code, output] = run({"mint-token", "--state-dir", dir.file("st"), "--out", dir.file("t")}, dir.file("log"));
  EXPECT_EQ(code, 1);
  EXPECT_NE(output.find("no issuer known"), std::string::npos) << output;
  auto [code2, output2] = run({"mint-token", "--state-dir", dir.file("st"), "--out", dir.file("t"), "--issuer",
                               "https://x.example", "--alg", "HS256"},
                              dir.file("log2"));
  EXPECT_EQ(code2, 2);  // a bad flag value is a usage error
  EXPECT_NE(output2.find("--alg must be RS256 or ES256"), std::string::npos) << output2;
}

TEST(DecodeToken, PrintsHeaderAndClaims) {
  Emulator emu;
  std::string token = emu.mint({"--pod-name", "web-0"});
  azwi::test::write_file(emu.file("t.jwt"), token + "\n");
  auto [code, output] = run({"decode-token", emu.file("t.jwt")}, emu.file("decode.log"));
  ASSERT_EQ(code, 0) << output;
  auto v = parse(output).as_object();
  EXPECT_EQ(v["header"].at("alg").as_string(), "RS256");
  EXPECT_EQ(v["claims"].at("sub").as_string(), "system:serviceaccount:default:workload-identity-sa");
  EXPECT_EQ(v["claims"].at("kubernetes.io").at("pod").at("name").as_string(), "web-0");
  azwi::test::write_file(emu.file("bad.jwt"), "garbage");
  auto [bad_code, bad_output] = run({"decode-token", emu.file("bad.jwt")}, emu.file("decode2.log"));
  EXPECT_EQ(bad_code, 1);
  EXPECT_NE(bad_output.find("not a JWT"), std::string::npos);
}

TEST(Faults, FailNextWithRetryAfterThenRecovers) {
  Emulator emu;
  std::string assertion = emu.mint();
  auto put = emu.send("PUT", "_emulator/faults", R"({"fail_next":2,"fail_status":503,"retry_after":7})");
  ASSERT_EQ(put.status, 200) << put.body;
  for (int i = 0; i < 2; ++i) {
    auto res = emu.exchange(assertion);
    expect_entra_error(res, 503, "temporarily_unavailable", 90033);
    EXPECT_EQ(res.header("retry-after").value_or(""), "7");
  }
  EXPECT_EQ(emu.exchange(assertion).status, 200);

  ASSERT_EQ(emu.send("PUT", "_emulator/faults", R"({"fail_next":1,"fail_status":429,"retry_after":2})").status, 200);
  auto throttled = emu.exchange(assertion);
  expect_entra_error(throttled, 429, "temporarily_unavailable", 90055);
  EXPECT_EQ(throttled.header("retry-after").value_or(""), "2");
  EXPECT_EQ(emu.exchange(assertion).status, 200);

  auto requests = parse(emu.get("_emulator/requests").body).as_array();
  ASSERT_EQ(requests.size(), 5u);
  EXPECT_EQ(requests[0].at("fault").as_string(), "fail_next");
}

TEST(Faults, FailureRateLatencyOutageAndValidation) {
  Emulator emu;
  std::string assertion = emu.mint();
  ASSERT_EQ(emu.send("PUT", "_emulator/faults", R"({"failure_rate":1.0,"fail_status":500})").status, 200);
  expect_entra_error(emu.exchange(assertion), 500, "temporarily_unavailable", 90033);
  ASSERT_EQ(emu.send("DELETE", "_emulator/faults", "").status, 200);
  EXPECT_EQ(emu.exchange(assertion).status, 200);

  ASSERT_EQ(emu.send("PUT", "_emulator/faults", R"({"latency_ms":400})").status, 200);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(emu.exchange(assertion).status, 200);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 400ms);
  // Latency applies to the token endpoint only.
  t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(emu.get("openid/v1/jwks").status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 300ms);

  ASSERT_EQ(emu.send("PUT", "_emulator/faults", R"({"outage_seconds":1})").status, 200);
  expect_entra_error(emu.exchange(assertion), 503, "temporarily_unavailable", 90033);
  std::this_thread::sleep_for(1100ms);
  EXPECT_EQ(emu.exchange(assertion).status, 200);

  for (const char* bad : {R"({"failure_rate":2})", R"({"fail_status":200})", R"({"latency":5})", "[1]",
                          R"({"fail_next":"x"})"})
    EXPECT_EQ(emu.send("PUT", "_emulator/faults", bad).status, 400) << bad;
}

TEST(Faults, StartupFlags) {
  Emulator emu({"--fail-next", "1", "--fail-status", "502", "--retry-after", "3"});
  std::string assertion = emu.mint();
  auto res = emu.exchange(assertion);
  expect_entra_error(res, 502, "temporarily_unavailable", 90033);
  EXPECT_EQ(res.header("retry-after").value_or(""), "3");
  EXPECT_EQ(emu.exchange(assertion).status, 200);
}

TEST(Control, StatsAndRequestLogCountExchangesWithoutSecrets) {
  Emulator emu({"--request-log-size", "3"});
  std::string assertion = emu.mint();
  EXPECT_EQ(emu.exchange(assertion).status, 200);
  EXPECT_EQ(emu.exchange(assertion, "unknown-client").status, 400);
  auto stats = parse(emu.get("_emulator/stats").body).as_object();
  EXPECT_EQ(stats["token_requests"].to_number<std::uint64_t>(), 2u);
  EXPECT_EQ(stats["tokens_issued"].to_number<std::uint64_t>(), 1u);
  EXPECT_EQ(stats["token_errors"].to_number<std::uint64_t>(), 1u);

  auto log = emu.get("_emulator/requests");
  EXPECT_EQ(log.body.find(assertion), std::string::npos);
  auto entries = parse(log.body).as_array();
  ASSERT_EQ(entries.size(), 2u);
  auto& e = entries[0].as_object();
  EXPECT_EQ(e["method"].as_string(), "POST");
  EXPECT_EQ(e["path"].as_string(), std::string("/") + kTenant + "/oauth2/v2.0/token");
  EXPECT_EQ(e["status"].as_int64(), 200);
  auto& form = e["form"].as_object();
  EXPECT_EQ(form["client_id"].as_string(), kClient);
  EXPECT_EQ(form["scope"].as_string(), "https://vault.azure.net/.default");
  EXPECT_EQ(form["grant_type"].as_string(), "client_credentials");
  EXPECT_EQ(form["client_assertion_type"].as_string(), kAssertionType);
  EXPECT_EQ(form["client_assertion_sha256"].as_string(), azwi::jwt::sha256_hex(assertion));
  EXPECT_FALSE(form.contains("client_assertion"));
  EXPECT_EQ(entries[1].at("error_code").as_int64(), 700016);

  // The log is bounded; other endpoints are not counted.
  for (int i = 0; i < 3; ++i) emu.exchange(assertion);
  emu.get(".well-known/openid-configuration");
  EXPECT_EQ(parse(emu.get("_emulator/requests").body).as_array().size(), 3u);
  EXPECT_EQ(parse(emu.get("_emulator/stats").body).at("token_requests").to_number<std::uint64_t>(), 5u);

  EXPECT_EQ(emu.send("DELETE", "_emulator/requests", "").status, 204);
  EXPECT_EQ(parse(emu.get("_emulator/requests").body).as_array().size(), 0u);
  stats = parse(emu.get("_emulator/stats").body).as_object();
  EXPECT_EQ(stats["token_requests"].to_number<std::uint64_t>(), 0u);
  EXPECT_EQ(stats["tokens_issued"].to_number<std::uint64_t>(), 0u);
  EXPECT_EQ(emu.send("POST", "_emulator/stats", "").status, 405);
  EXPECT_EQ(emu.get("_emulator/nothing").status, 404);

  auto info = parse(emu.get("_emulator/info").body).as_object();
  EXPECT_EQ(info["base_url"].as_string(), emu.url());
  EXPECT_EQ(info["ca_file"].as_string(), emu.ca());
}

TEST(Imds, InstanceResponderOnPlainHttp) {
  Emulator emu({"--imds", "--imds-listen", "127.0.0.1:0", "--imds-ready-file", "{dir}/imds-ready"});
  auto imds = azwi::test::wait_for_file(emu.file("imds-ready"), 5s);
  ASSERT_TRUE(imds);
  ASSERT_TRUE(imds->starts_with("http://127.0.0.1:")) << *imds;
  auto res = azwi::test::http_request("GET", *imds + "metadata/instance?api-version=2021-02-01",
                                      {{"Metadata", "true"}, {"X-Test", "passthrough"}});
  ASSERT_EQ(res.status, 200) << res.body;
  auto doc = parse(res.body).as_object();
  EXPECT_EQ(doc["compute"].at("vmSize").as_string(), "Standard_D2s_v3");
  auto& echo = doc["azwi_emulator_echo"].as_object();
  EXPECT_EQ(echo["method"].as_string(), "GET");
  EXPECT_EQ(echo["path"].as_string(), "/metadata/instance");
  EXPECT_EQ(echo["query"].as_string(), "api-version=2021-02-01");
  EXPECT_EQ(echo["headers"].at("x-test").as_string(), "passthrough");

  auto leaf = azwi::test::http_request("GET", *imds + "metadata/instance/compute?api-version=2021-02-01",
                                       {{"Metadata", "true"}});
  EXPECT_EQ(parse(leaf.body).at("location").as_string(), "westeurope");
  // Real IMDS rules: the Metadata header and api-version are required, proxied requests are refused.
  EXPECT_EQ(azwi::test::http_request("GET", *imds + "metadata/instance?api-version=2021-02-01").status, 400);
  EXPECT_EQ(azwi::test::http_request("GET", *imds + "metadata/instance", {{"Metadata", "true"}}).status, 400);
  EXPECT_EQ(azwi::test::http_request("GET", *imds + "metadata/instance?api-version=1",
                                     {{"Metadata", "true"}, {"X-Forwarded-For", "10.0.0.1"}})
                .status,
            400);
  EXPECT_EQ(azwi::test::http_request("GET", *imds + "other").status, 404);
  EXPECT_EQ(parse(emu.get("_emulator/stats").body).at("imds_requests").to_number<std::uint64_t>(), 6u);
  EXPECT_EQ(parse(emu.get("_emulator/info").body).at("imds_url").as_string(), *imds);
}

TEST(Serve, HelpAndBadFlags) {
  TempDir dir("azwi-emu-help");
  auto [code, output] = run({"serve", "--help"}, dir.file("help.log"));
  EXPECT_EQ(code, 0);
  for (const char* flag : {"--listen", "--state-dir", "--ready-file", "--config", "--tenant-id", "--client-id",
                           "--subject", "--issuer", "--audience", "--token-lifetime", "--refresh-in", "--imds",
                           "--imds-listen", "--latency-ms", "--fail-next", "--fail-status", "--retry-after",
                           "--failure-rate", "--outage-seconds", "--log-format", "--log-level", "--san", "--allow-remote"})
    EXPECT_NE(output.find(flag), std::string::npos) << flag;
  auto [bad, bad_output] = run({"serve", "--state-dir", dir.file("st"), "--failure-rate", "1.5"}, dir.file("bad.log"));
  EXPECT_EQ(bad, 2);
  EXPECT_NE(bad_output.find("--failure-rate"), std::string::npos);
  auto [busy, busy_output] = run({"serve", "--state-dir", dir.file("st"), "--listen", "127.0.0.1:99999"},
                                 dir.file("busy.log"));
  EXPECT_EQ(busy, 1);
  // Beyond loopback only when told.
  for (auto args : std::vector<std::vector<std::string>>{
           {"serve", "--state-dir", dir.file("st"), "--listen", "0.0.0.0:0"},
           {"serve", "--state-dir", dir.file("st"), "--listen", ":0"},
           {"serve", "--state-dir", dir.file("st"), "--imds", "--imds-listen", "0.0.0.0:0"},
           {"serve", "--state-dir", dir.file("st"), "--token-proxy-listen", "0.0.0.0:0"}}) {
    auto [remote, remote_output] = run(args, dir.file("remote.log"));
    EXPECT_EQ(remote, 1) << remote_output;
    EXPECT_NE(remote_output.find("is not a loopback address"), std::string::npos) << remote_output;
    EXPECT_NE(remote_output.find("--allow-remote"), std::string::npos) << remote_output;
  }
  EXPECT_EQ(run({"frobnicate"}, dir.file("x.log")).first, 2);
}

TEST(Commands, AMissingRequiredFlagIsAUsageErrorExit2) {
  TempDir dir("azwi-emu-usage");
  for (std::vector<std::string> args : {std::vector<std::string>{"serve"}, {"mint-token", "--out", dir.file("t")},
                                        {"rotate-keys"}}) {
    auto [code, output] = run(args, dir.file("log"));
    EXPECT_EQ(code, 2) << args[0];
    EXPECT_NE(output.find("--state-dir"), std::string::npos) << output;
    EXPECT_NE(output.find("(see --help)"), std::string::npos) << output;
  }
}

TEST(Commands, VersionTakesHelpAndRefusesFlags) {
  TempDir dir("azwi-emu-version");
  auto [code, output] = run({"version", "--help"}, dir.file("help.log"));
  EXPECT_EQ(code, 0);
  EXPECT_NE(output.find("Usage: azwi-emulator version"), std::string::npos) << output;
  EXPECT_EQ(run({"version", "--bogus"}, dir.file("bad.log")).first, 2);
  auto [vcode, voutput] = run({"version"}, dir.file("v.log"));
  EXPECT_EQ(vcode, 0);
  EXPECT_EQ(voutput.rfind("azwi-emulator ", 0), 0u) << voutput;
}

TEST(Keys, RotateKeysOnAMissingStateDirectorySaysHowToMakeOne) {
  TempDir dir("azwi-emu-rotate");
  auto [code, output] = run({"rotate-keys", "--state-dir", dir.file("nowhere")}, dir.file("log"));
  EXPECT_EQ(code, 1);
  EXPECT_NE(output.find("no state directory " + dir.file("nowhere")), std::string::npos) << output;
  EXPECT_NE(output.find("azwi-emulator serve --state-dir"), std::string::npos) << output;
  EXPECT_FALSE(std::filesystem::exists(dir.file("nowhere")));
}

TEST(Serve, GracefulShutdownOnSigterm) {
  Emulator emu;
  emu.process().signal(SIGTERM);
  EXPECT_EQ(emu.process().wait_exit(5s), 0);
  EXPECT_NE(emu.process().output().find("shutting down"), std::string::npos);
}
