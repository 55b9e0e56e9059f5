#include "netredirect/plan.hpp"

#include <gtest/gtest.h>

using namespace azwi::netredirect;

namespace {

NatTable parse(std::string_view text) {
  auto r = parse_nat_table(text);
  if (auto* e = std::get_if<std::string>(&r)) {
    ADD_FAILURE() << *e;
    return {};
  }
  return std::get<NatTable>(r);
}

const char* const kEmptyNat = R"(*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
COMMIT
)";

// What the installed default rules look like when saved, with unrelated rules around them.
const char* const kInstalledDefault = R"(*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:MESH_OUTPUT - [0:0]
:AZWI_PROXY_OUTPUT - [0:0]
:AZWI_PROXY_REDIRECT - [0:0]
-A PREROUTING -p tcp -j MESH_OUTPUT
-A OUTPUT -p udp --dport 53 -j MESH_OUTPUT
-A OUTPUT -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j AZWI_PROXY_OUTPUT
-A MESH_OUTPUT -o lo -j RETURN
-A AZWI_PROXY_OUTPUT -m owner --uid-owner 1501 -j ACCEPT
-A AZWI_PROXY_OUTPUT -j AZWI_PROXY_REDIRECT
-A AZWI_PROXY_REDIRECT -p tcp -j REDIRECT --to-ports 8000
COMMIT
)";

}  // namespace

TEST(ProxyInitPlan, DesiredRulesMatchTheReferenceRulesInSavedSpelling) {
  EXPECT_EQ(desired_rules(Config{}),
            (std::vector<std::string>{
                "-A AZWI_PROXY_REDIRECT -p tcp -j REDIRECT --to-ports 8000",
                "-A OUTPUT -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j AZWI_PROXY_OUTPUT",
                "-A AZWI_PROXY_OUTPUT -m owner --uid-owner 1501 -j ACCEPT",
                "-A AZWI_PROXY_OUTPUT -j AZWI_PROXY_REDIRECT",
            }));
  Config c{9100, "10.0.0.7", 8080, 0};
  EXPECT_EQ(desired_rules(c),
            (std::vector<std::string>{
                "-A AZWI_PROXY_REDIRECT -p tcp -j REDIRECT --to-ports 9100",
                "-A OUTPUT -d 10.0.0.7/32 -p tcp -m tcp --dport 8080 -j AZWI_PROXY_OUTPUT",
                "-A AZWI_PROXY_OUTPUT -m owner --uid-owner 0 -j ACCEPT",
                "-A AZWI_PROXY_OUTPUT -j AZWI_PROXY_REDIRECT",
            }));
}

TEST(ProxyInitPlan, InstallOnEmptyTableIsOneTransaction) {
  Plan p = plan_install(Config{}, parse(kEmptyNat));
  EXPECT_TRUE(p.changes);
  EXPECT_EQ(p.restore_input,
            "*nat\n"
            ":AZWI_PROXY_OUTPUT - [0:0]\n"
            ":AZWI_PROXY_REDIRECT - [0:0]\n"
            "-A AZWI_PROXY_REDIRECT -p tcp -j REDIRECT --to-ports 8000\n"
            "-A OUTPUT -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j AZWI_PROXY_OUTPUT\n"
            "-A AZWI_PROXY_OUTPUT -m owner --uid-owner 1501 -j ACCEPT\n"
            "-A AZWI_PROXY_OUTPUT -j AZWI_PROXY_REDIRECT\n"
            "COMMIT\n");
  EXPECT_TRUE(p.removing.empty());
  EXPECT_EQ(p.adding, desired_rules(Config{}));
}

TEST(ProxyInitPlan, InstallWithEveryEnvCombinationUsesTheValues) {
  for (int mask = 0; mask < 16; ++mask) {
    Config c;
    if (mask & 1) c.proxy_port = 15001;
    if (mask & 2) c.metadata_ip = "169.254.170.2";
    if (mask & 4) c.metadata_port = 8081;
    if (mask & 8) c.proxy_uid = 65534;
    SCOPED_TRACE(mask);
    Plan p = plan_install(c, parse(kEmptyNat));
    const std::string& in = p.restore_input;
    EXPECT_NE(in.find("--to-ports " + std::to_string(c.proxy_port) + "\n"), std::string::npos) << in;
    EXPECT_NE(in.find("-d " + c.metadata_ip + "/32 -p tcp -m tcp --dport " + std::to_string(c.metadata_port) + " "),
              std::string::npos)
        << in;
    EXPECT_NE(in.find("--uid-owner " + std::to_string(c.proxy_uid) + " -j ACCEPT"), std::string::npos) << in;
    // A table saved with exactly these rules needs no change.
    std::string saved = std::string(":AZWI_PROXY_OUTPUT - [0:0]\n:AZWI_PROXY_REDIRECT - [0:0]\n");
    for (const auto& r : desired_rules(c)) saved += r + "\n";
    EXPECT_FALSE(plan_install(c, parse("*nat\n:OUTPUT ACCEPT [0:0]\n" + saved + "COMMIT\n")).changes);
  }
}

TEST(ProxyInitPlan, SecondRunChangesNothing) {
  NatTable t = parse(kInstalledDefault);
  EXPECT_TRUE(is_installed(Config{}, t));
  Plan p = plan_install(Config{}, t);
  EXPECT_FALSE(p.changes);
  EXPECT_TRUE(p.restore_input.empty());
}

TEST(ProxyInitPlan, DifferentPortReplacesTheOldRulesAndKeepsOthers) {
  Config c;
  c.proxy_port = 9000;
  c.metadata_port = 8080;
  NatTable t = parse(kInstalledDefault);
  EXPECT_FALSE(is_installed(c, t));
  Plan p = plan_install(c, t);
  ASSERT_TRUE(p.changes);
  EXPECT_EQ(p.restore_input,
            "*nat\n"
            ":AZWI_PROXY_OUTPUT - [0:0]\n"
            ":AZWI_PROXY_REDIRECT - [0:0]\n"
            "-D OUTPUT -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j AZWI_PROXY_OUTPUT\n"
            "-A AZWI_PROXY_REDIRECT -p tcp -j REDIRECT --to-ports 9000\n"
            "-A OUTPUT -d 169.254.169.254/32 -p tcp -m tcp --dport 8080 -j AZWI_PROXY_OUTPUT\n"
            "-A AZWI_PROXY_OUTPUT -m owner --uid-owner 1501 -j ACCEPT\n"
            "-A AZWI_PROXY_OUTPUT -j AZWI_PROXY_REDIRECT\n"
            "COMMIT\n");
  // Rules that are not ours never appear in the transaction.
  EXPECT_EQ(p.restore_input.find("MESH_OUTPUT"), std::string::npos);
  EXPECT_EQ(p.removing.size(), 4u);
  EXPECT_EQ(p.removing[0], "-A OUTPUT -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j AZWI_PROXY_OUTPUT");
}

TEST(ProxyInitPlan, StackedJumpsAreAllRemovedAndOneIsAdded) {
  // Left by an older, non-idempotent init script that ran twice, plus a stray jump from PREROUTING.
  NatTable t = parse(R"(*nat
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:AZWI_PROXY_OUTPUT - [0:0]
:AZWI_PROXY_REDIRECT - [0:0]
-A PREROUTING -j AZWI_PROXY_REDIRECT
-A OUTPUT -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j AZWI_PROXY_OUTPUT
-A OUTPUT -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j AZWI_PROXY_OUTPUT
-A AZWI_PROXY_OUTPUT -m owner --uid-owner 1501 -j ACCEPT
-A AZWI_PROXY_OUTPUT -j AZWI_PROXY_REDIRECT
-A AZWI_PROXY_OUTPUT -m owner --uid-owner 1501 -j ACCEPT
-A AZWI_PROXY_OUTPUT -j AZWI_PROXY_REDIRECT
-A AZWI_PROXY_REDIRECT -p tcp -j REDIRECT --to-ports 8000
COMMIT
)");
  EXPECT_FALSE(is_installed(Config{}, t));
  Plan p = plan_install(Config{}, t);
  ASSERT_TRUE(p.changes);
  const std::string& in = p.restore_input;
  EXPECT_NE(in.find("-D PREROUTING -j AZWI_PROXY_REDIRECT\n"), std::string::npos) << in;
  const std::string del = "-D OUTPUT -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j AZWI_PROXY_OUTPUT\n";
  auto first = in.find(del);
  ASSERT_NE(first, std::string::npos);
  EXPECT_NE(in.find(del, first + 1), std::string::npos) << "one -D per stacked copy";
  std::string add = "-A OUTPUT -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j AZWI_PROXY_OUTPUT\n";
  auto a = in.find(add);
  ASSERT_NE(a, std::string::npos);
  EXPECT_EQ(in.find(add, a + 1), std::string::npos) << "exactly one jump appended";
  // Deletions precede the append, so the new jump is not the one deleted.
  EXPECT_LT(in.rfind("-D "), a);
}

TEST(ProxyInitPlan, ChangedUidOrMissingChainIsNotInstalled) {
  Config c;
  c.proxy_uid = 1600;
  EXPECT_FALSE(is_installed(c, parse(kInstalledDefault)));
  EXPECT_TRUE(plan_install(c, parse(kInstalledDefault)).changes);
  // Chain there but the jump missing (someone deleted it by hand).
  NatTable t = parse(R"(*nat
:OUTPUT ACCEPT [0:0]
:AZWI_PROXY_OUTPUT - [0:0]
:AZWI_PROXY_REDIRECT - [0:0]
-A AZWI_PROXY_OUTPUT -m owner --uid-owner 1501 -j ACCEPT
-A AZWI_PROXY_OUTPUT -j AZWI_PROXY_REDIRECT
-A AZWI_PROXY_REDIRECT -p tcp -j REDIRECT --to-ports 8000
COMMIT
)");
  EXPECT_FALSE(is_installed(Config{}, t));
  Plan p = plan_install(Config{}, t);
  EXPECT_TRUE(p.changes);
  EXPECT_EQ(p.restore_input.find("-D "), std::string::npos);
}

TEST(ProxyInitPlan, CleanupRemovesJumpsThenChains) {
  Plan p = plan_cleanup(parse(kInstalledDefault));
  ASSERT_TRUE(p.changes);
  EXPECT_EQ(p.restore_input,
            "*nat\n"
            "-D OUTPUT -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j AZWI_PROXY_OUTPUT\n"
            ":AZWI_PROXY_OUTPUT - [0:0]\n"
            ":AZWI_PROXY_REDIRECT - [0:0]\n"
            "-X AZWI_PROXY_OUTPUT\n"
            "-X AZWI_PROXY_REDIRECT\n"
            "COMMIT\n");
  EXPECT_EQ(p.removing.size(), 4u);
  EXPECT_TRUE(p.adding.empty());
}

TEST(ProxyInitPlan, CleanupOfACleanTableDoesNothing) {
  NatTable t = parse(kEmptyNat);
  EXPECT_TRUE(is_clean(t));
  Plan p = plan_cleanup(t);
  EXPECT_FALSE(p.changes);
  EXPECT_TRUE(p.restore_input.empty());
  EXPECT_FALSE(is_clean(parse(kInstalledDefault)));
}

TEST(ProxyInitPlan, CleanupOfAHalfInstalledStateDeletesOnlyWhatExists) {
  Plan p = plan_cleanup(parse("*nat\n:OUTPUT ACCEPT [0:0]\n:AZWI_PROXY_REDIRECT - [0:0]\nCOMMIT\n"));
  ASSERT_TRUE(p.changes);
  EXPECT_EQ(p.restore_input, "*nat\n:AZWI_PROXY_REDIRECT - [0:0]\n-X AZWI_PROXY_REDIRECT\nCOMMIT\n");
}

TEST(ProxyInitPlan, QuotedForeignJumpIsDeletedVerbatim) {
  NatTable t = parse(R"(*nat
:OUTPUT ACCEPT [0:0]
:AZWI_PROXY_OUTPUT - [0:0]
-A OUTPUT -m comment --comment "added \"by hand\"" -j AZWI_PROXY_OUTPUT
COMMIT
)");
  Plan p = plan_cleanup(t);
  EXPECT_NE(p.restore_input.find(R"(-D OUTPUT -m comment --comment "added \"by hand\"" -j AZWI_PROXY_OUTPUT)"),
            std::string::npos)
      << p.restore_input;
}
