// Unit tests of the emulator's pure parts: form decoding, config parsing, fault decisions, the key ring's
// publication rule, and the Entra error shape.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <filesystem>
#include <set>

#include "emulator/config.hpp"
#include "emulator/entra.hpp"
#include "emulator/faults.hpp"
#include "emulator/form.hpp"
#include "emulator/keyring.hpp"
#include "jwt/digest.hpp"

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

TEST(Faults, ThrottlingWindowAnswers429WithRetryAfterUntilItEnds) {
  ManualClock clock;
  Faults faults(clock);
  faults.apply(parse_fault_settings(boost::json::parse(R"({"outage_seconds":3,"outage_status":429,"retry_after":1})").as_object()));
  auto d = faults.decide();
  EXPECT_EQ(d.fail_status, 429u);
  EXPECT_EQ(d.retry_after, 1);
  EXPECT_EQ(faults.decide().fail_status, 429u);
  clock.advance(std::chrono::seconds(4));
  EXPECT_FALSE(faults.decide().fail_status);
  EXPECT_THROW(parse_fault_settings(boost::json::parse(R"({"outage_status":200})").as_object()), std::invalid_argument);
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
