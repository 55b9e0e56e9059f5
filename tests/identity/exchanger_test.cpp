#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <future>
#include <stdexcept>

#include "identity/entra_exchanger.hpp"
#include "identity/worker_token_source.hpp"

using namespace azwi;
using namespace azwi::identity;
using namespace std::chrono_literals;

namespace {
// Answers requests from a script, one entry per attempt, and can run an action between attempts.
class ScriptedTransport : public HttpTransport {
 public:
  http::ClientResult perform(const http::ClientRequest& request) override {
    requests.push_back(request);
    if (before_each) before_each(requests.size());
    if (answers.empty()) return {http::ClientError{http::ClientError::Kind::other, "script exhausted"}, {}};
    auto a = answers.front();
    answers.erase(answers.begin());
    return a;
  }
  static http::ClientResult answer(long status, std::string body, http::HeaderList headers = {}) {
    return {std::nullopt, http::ClientResponse{status, std::move(headers), std::move(body)}};
  }
  static http::ClientResult failure(http::ClientError::Kind kind, std::string message) {
    return {http::ClientError{kind, std::move(message)}, {}};
  }
  std::vector<http::ClientRequest> requests;
  std::vector<http::ClientResult> answers;
  std::function<void(size_t)> before_each;
};

const char* kOk = R"({"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"AT"})";
const TokenKey kKey{"my-tenant", "my-client", "https://vault.azure.net/.default"};

std::map<std::string, std::string> parse_form(const std::string& body) {
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while (pos <= body.size()) {
    auto amp = body.find('&', pos);
    auto part = body.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    auto eq = part.find('=');
    out[part.substr(0, eq)] = eq == std::string::npos ? "" : part.substr(eq + 1);
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  return out;
}
}  // namespace

class ExchangerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() / ("azwi-exch-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    token_file = (dir / "token").string();
    write_token("sa.token.one\n");
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
  void write_token(const std::string& s) { std::ofstream(token_file) << s; }
  EntraExchanger make(RetryPolicy retry = {}) {
    return EntraExchanger(clock, transport, ExchangeConfig{"https://login.example/", token_file, retry});
  }
  std::filesystem::path dir;
  std::string token_file;
  ManualClock clock;
  ScriptedTransport transport;
};

TEST_F(ExchangerTest, SendsTheClientAssertionFormToTheTenantsTokenEndpoint) {
  transport.answers = {ScriptedTransport::answer(200, kOk)};
  auto r = make().exchange(kKey);
  ASSERT_TRUE(std::holds_alternative<AccessToken>(r));
  auto& t = std::get<AccessToken>(r);
  EXPECT_EQ(t.value, "AT");
  EXPECT_EQ(t.expires_on - t.issued_at, 3599s);
  ASSERT_EQ(transport.requests.size(), 1u);
  auto& req = transport.requests[0];
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.url, "https://login.example/my-tenant/oauth2/v2.0/token");
  auto form = parse_form(req.body);
  EXPECT_EQ(form.size(), 5u);
  EXPECT_EQ(form["client_id"], "my-client");
  EXPECT_EQ(form["scope"], "https%3A%2F%2Fvault.azure.net%2F.default");
  EXPECT_EQ(form["grant_type"], "client_credentials");
  EXPECT_EQ(form["client_assertion_type"], "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer");
  EXPECT_EQ(form["client_assertion"], "sa.token.one");
}

TEST_F(ExchangerTest, TransientFailuresAreRetriedWithBackoffOnTheClock) {
  transport.answers = {ScriptedTransport::answer(500, R"({"error":"server_error","error_description":"AADSTS90033: busy"})"),
                       ScriptedTransport::failure(http::ClientError::Kind::connect, "refused"),
                       ScriptedTransport::answer(200, kOk)};
  auto r = make(RetryPolicy{4, 500ms, 2.0, 8s, 20s}).exchange(kKey);
  ASSERT_TRUE(std::holds_alternative<AccessToken>(r));
  EXPECT_EQ(transport.requests.size(), 3u);
  EXPECT_EQ(clock.total_slept(), 1500ms);
}

TEST_F(ExchangerTest, RetryAfterIsHonoured) {
  transport.answers = {ScriptedTransport::answer(429, R"({"error":"temporarily_unavailable"})", {{"retry-after", "7"}}),
                       ScriptedTransport::answer(200, kOk)};
  auto r = make().exchange(kKey);
  ASSERT_TRUE(std::holds_alternative<AccessToken>(r));
  EXPECT_EQ(clock.total_slept(), 7s);
}

TEST_F(ExchangerTest, ThrottlingThatOutlastsTheDeadlineStaysA429WithRetryAfter) {
  transport.answers = {ScriptedTransport::answer(429, R"({"error":"too_many"})", {{"retry-after", "60"}})};
  auto r = make(RetryPolicy{4, 500ms, 2.0, 8s, 20s}).exchange(kKey);
  ASSERT_TRUE(std::holds_alternative<TokenError>(r));
  auto& e = std::get<TokenError>(r);
  EXPECT_EQ(e.kind, TokenError::Kind::throttled);
  EXPECT_EQ(e.retry_after, 60s);
  EXPECT_EQ(transport.requests.size(), 1u);
}

TEST_F(ExchangerTest, AnEntraRejectionIsNotRetriedAndKeepsTheAadstsText) {
  transport.answers = {ScriptedTransport::answer(
      400, R"({"error":"invalid_client","error_description":"AADSTS700213: No matching federated identity record found for presented assertion subject 'x'.","error_codes":[700213]})")};
  auto r = make().exchange(kKey);
  auto& e = std::get<TokenError>(r);
  EXPECT_EQ(e.kind, TokenError::Kind::rejected);
  EXPECT_EQ(e.error, "invalid_client");
  EXPECT_EQ(e.description.rfind("AADSTS700213: No matching", 0), 0u);
  EXPECT_EQ(transport.requests.size(), 1u);
}

TEST_F(ExchangerTest, GivesUpAfterTheAttemptsWithTheLastReason) {
  transport.answers = {ScriptedTransport::answer(503, ""), ScriptedTransport::answer(503, ""),
                       ScriptedTransport::answer(503, "")};
  auto r = make(RetryPolicy{3, 100ms, 2.0, 8s, 20s}).exchange(kKey);
  auto& e = std::get<TokenError>(r);
  EXPECT_EQ(e.kind, TokenError::Kind::unavailable);
  EXPECT_NE(e.description.find("503"), std::string::npos);
  EXPECT_EQ(transport.requests.size(), 3u);
}

TEST_F(ExchangerTest, TimeoutsAreReportedAsSuch) {
  transport.answers = {ScriptedTransport::failure(http::ClientError::Kind::timeout, "Operation timed out")};
  auto r = make(RetryPolicy{1, 100ms, 2.0, 8s, 20s}).exchange(kKey);
  EXPECT_EQ(std::get<TokenError>(r).kind, TokenError::Kind::timeout);
}

TEST_F(ExchangerTest, TlsFailuresAreNotRetriedAndPointAtTheTrustStore) {
  transport.answers = {ScriptedTransport::failure(http::ClientError::Kind::tls, "unable to get local issuer certificate")};
  auto r = make().exchange(kKey);
  auto& e = std::get<TokenError>(r);
  EXPECT_NE(e.description.find("SSL_CERT_FILE"), std::string::npos);
  EXPECT_EQ(transport.requests.size(), 1u);
}

TEST_F(ExchangerTest, TheTokenFileIsReadAfreshForEveryAttempt) {
  transport.answers = {ScriptedTransport::answer(500, ""), ScriptedTransport::answer(200, kOk)};
  transport.before_each = [&](size_t n) {
    if (n == 1) write_token("sa.token.two");
  };
  make().exchange(kKey);
  ASSERT_EQ(transport.requests.size(), 2u);
  EXPECT_EQ(parse_form(transport.requests[0].body)["client_assertion"], "sa.token.one");
  EXPECT_EQ(parse_form(transport.requests[1].body)["client_assertion"], "sa.token.two");
}

TEST_F(ExchangerTest, AnUnreadableTokenFileIsALocalErrorNamingTheFile) {
  std::filesystem::remove(token_file);
  auto r = make().exchange(kKey);
  auto& e = std::get<TokenError>(r);
  EXPECT_EQ(e.kind, TokenError::Kind::local);
  EXPECT_NE(e.description.find(token_file), std::string::npos);
  EXPECT_TRUE(transport.requests.empty());
  write_token("");
  r = make().exchange(kKey);
  EXPECT_NE(std::get<TokenError>(r).description.find("empty"), std::string::npos);
}

TEST_F(ExchangerTest, A200WithoutATokenIsAnError) {
  transport.answers = {ScriptedTransport::answer(200, "<html>captive portal</html>")};
  auto r = make().exchange(kKey);
  EXPECT_EQ(std::get<TokenError>(r).kind, TokenError::Kind::unavailable);
}

// Found by fuzzing: a lifetime of 6,300 years overflowed the clock's nanoseconds (undefined behaviour).
TEST_F(ExchangerTest, ALifetimeBeyondAYearIsAnInvalidAnswerNotAnOverflow) {
  for (const char* expires_in : {"200000000099", "\"200000000099\"", "18446744073709551615", "31708800"}) {
    transport.answers = {ScriptedTransport::answer(
        200, std::string(R"({"token_type":"Bearer","access_token":"AT","expires_in":)") + expires_in + "}")};
    auto r = make().exchange(kKey);
    ASSERT_TRUE(std::holds_alternative<TokenError>(r)) << expires_in;
    EXPECT_EQ(std::get<TokenError>(r).error, "invalid_response") << expires_in;
    EXPECT_NE(std::get<TokenError>(r).description.find("an expires_in of 1 s to a year"), std::string::npos);
  }
  transport.answers = {ScriptedTransport::answer(  // a year is still a lifetime; an absurd ext_expires_in is ignored
      200, R"({"token_type":"Bearer","access_token":"AT","expires_in":31536000,"ext_expires_in":99999999999999})")};
  auto t = std::get<AccessToken>(make().exchange(kKey));
  EXPECT_EQ(t.expires_on - t.issued_at, 31536000s);
}

TEST_F(ExchangerTest, V1StyleStringNumbersAndRefreshInAreUnderstood) {
  transport.answers = {ScriptedTransport::answer(
      200, R"({"token_type":"Bearer","expires_in":"86399","ext_expires_in":"86399","refresh_in":43199,"access_token":"AT"})")};
  auto t = std::get<AccessToken>(make().exchange(kKey));
  EXPECT_EQ(t.expires_on - t.issued_at, 86399s);
  EXPECT_EQ(t.refresh_at - t.issued_at, 43199s);
}

namespace {
struct ThrowingTransport : HttpTransport {
  int calls = 0;
  http::ClientResult perform(const http::ClientRequest&) override {
    if (++calls == 1) throw std::runtime_error("the transport broke");
    return ScriptedTransport::answer(200, kOk);
  }
};
}  // namespace

TEST_F(ExchangerTest, AnExceptionDuringAWorkersExchangeIsThatFetchsErrorAndTheWorkerGoesOn) {
  ThrowingTransport throwing;
  EntraExchanger exchanger(clock, throwing, ExchangeConfig{"https://login.example/", token_file, RetryPolicy{}});
  WorkerTokenSource source(exchanger, clock, nullptr, 1);
  for (int i = 0; i < 2; ++i) {
    std::promise<FetchResult> done;
    auto result = done.get_future();
    source.fetch(kKey, [&done](FetchResult r) { done.set_value(std::move(r)); });
    ASSERT_EQ(result.wait_for(5s), std::future_status::ready);
    auto r = result.get();
    if (i == 0) {
      ASSERT_TRUE(std::holds_alternative<TokenError>(r));
      EXPECT_EQ(std::get<TokenError>(r).kind, TokenError::Kind::local);
      EXPECT_NE(std::get<TokenError>(r).description.find("the transport broke"), std::string::npos);
    } else {
      EXPECT_TRUE(std::holds_alternative<AccessToken>(r));  // the same worker thread answers the next fetch
    }
  }
}
