#include "netredirect/backend.hpp"

#include <gtest/gtest.h>

using namespace azwi::netredirect;

namespace {
BackendProbe usable(int rules) { return {true, rules, ""}; }
BackendProbe broken(std::string why) { return {false, 0, std::move(why)}; }
}  // namespace

TEST(ProxyInitBackend, NamesAndPrograms) {
  EXPECT_EQ(parse_backend("nft"), Backend::nft);
  EXPECT_EQ(parse_backend("legacy"), Backend::legacy);
  EXPECT_FALSE(parse_backend("auto").has_value());
  EXPECT_FALSE(parse_backend("NFT").has_value());
  EXPECT_EQ(save_program(Backend::nft), "iptables-nft-save");
  EXPECT_EQ(restore_program(Backend::legacy), "iptables-legacy-restore");
  EXPECT_EQ(other_backend(Backend::nft), Backend::legacy);
}

TEST(ProxyInitBackend, NoRulesAnywhereDefaultsToNft) {
  auto c = choose_backend(usable(0), usable(0));
  EXPECT_EQ(c.backend, Backend::nft);
  EXPECT_NE(c.reason.find("default"), std::string::npos);
}

TEST(ProxyInitBackend, LegacyRulesSelectLegacy) {
  auto c = choose_backend(usable(0), usable(3));
  EXPECT_EQ(c.backend, Backend::legacy);
  EXPECT_NE(c.reason.find("legacy: 3 rules"), std::string::npos) << c.reason;
}

TEST(ProxyInitBackend, NftRulesSelectNft) { EXPECT_EQ(choose_backend(usable(2), usable(0)).backend, Backend::nft); }

TEST(ProxyInitBackend, BothWithRulesPicksTheLargerAndNftOnATie) {
  EXPECT_EQ(choose_backend(usable(2), usable(9)).backend, Backend::legacy);
  EXPECT_EQ(choose_backend(usable(9), usable(2)).backend, Backend::nft);
  EXPECT_EQ(choose_backend(usable(4), usable(4)).backend, Backend::nft);
}

TEST(ProxyInitBackend, UnreadableBackendIsAvoided) {
  auto c = choose_backend(broken("iptables-nft-save could not start: No such file or directory"), usable(0));
  EXPECT_EQ(c.backend, Backend::legacy);
  EXPECT_NE(c.reason.find("No such file"), std::string::npos);
  EXPECT_EQ(choose_backend(usable(0), broken("x")).backend, Backend::nft);
  EXPECT_EQ(choose_backend(broken("x"), broken("y")).backend, Backend::nft);
}
