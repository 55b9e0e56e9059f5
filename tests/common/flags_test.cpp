// Command-line flags: the Go forms, errors that name the flag, flags bound straight to options of any integer or
// path type, --version, and programs of subcommands.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

#include "common/flags.hpp"

using namespace azwi;

TEST(Flags, GoStyleForms) {
  int port = 8000;
  bool probe = false;
  std::string level = "info";
  FlagSet f("p", "s");
  f.add_int("proxy-port", &port, "port", 1, 65535);
  f.add_bool("probe", &probe, "probe");
  f.add_string("log-level", &level, "level");
  const char* argv[] = {"p", "--proxy-port=9000", "-probe", "--log-level", "debug", "rest"};
  auto r = f.parse(6, argv);
  ASSERT_EQ(r.outcome, FlagSet::Outcome::run) << r.message;
  EXPECT_EQ(port, 9000);
  EXPECT_TRUE(probe);
  EXPECT_EQ(level, "debug");
  ASSERT_EQ(r.positional.size(), 1u);
}

TEST(Flags, ErrorsNameTheFlag) {
  int port = 8000;
  FlagSet f("p", "s");
  f.add_int("proxy-port", &port, "port", 1, 65535);
  const char* bad[] = {"p", "--proxy-port=70000"};
  auto r = f.parse(2, bad);
  EXPECT_EQ(r.outcome, FlagSet::Outcome::error);
  EXPECT_NE(r.message.find("--proxy-port"), std::string::npos);
  const char* unknown[] = {"p", "--nope"};
  r = f.parse(2, unknown);
  EXPECT_NE(r.message.find("unknown flag --nope"), std::string::npos);
  const char* missing[] = {"p", "--proxy-port"};
  EXPECT_EQ(f.parse(2, missing).outcome, FlagSet::Outcome::error);
  const char* help[] = {"p", "--help"};
  r = f.parse(2, help);
  EXPECT_EQ(r.outcome, FlagSet::Outcome::help);
  EXPECT_NE(r.message.find("--proxy-port=int"), std::string::npos);
  EXPECT_NE(r.message.find("(default 8000)"), std::string::npos);
}

TEST(Flags, ListsAppendAcrossUsesAndCommasAndShortNamesShowOneDash) {
  std::vector<std::string> phases;
  std::string ns;
  FlagSet f("p", "s");
  f.add_list("skip-phase", &phases, "phase");
  f.add_string("n", &ns, "namespace");
  const char* argv[] = {"p", "--skip-phase", "a", "--skip-phase=b,,c", "-n", "x"};
  auto r = f.parse(6, argv);
  ASSERT_EQ(r.outcome, FlagSet::Outcome::run) << r.message;
  EXPECT_EQ(phases, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(ns, "x");
  std::string usage = f.usage();
  EXPECT_NE(usage.find("\n  -n=string "), std::string::npos) << usage;
  EXPECT_NE(usage.find("\n  --skip-phase=string "), std::string::npos) << usage;
}

TEST(Flags, BindStraightToOptionsOfAnyIntegerPathOrFloatType) {
  struct Options {
    std::int64_t lifetime = 3600;
    std::size_t log_size = 1000;
    unsigned status = 503;
    double rate = 0;
    std::filesystem::path dir;
  } o;
  FlagSet f("p", "s");
  f.add_int("lifetime", &o.lifetime, "lifetime", 1, 86400 * 365);
  f.add_int("log-size", &o.log_size, "size", 1, 1000000);
  f.add_int("status", &o.status, "status", 400, 599);
  f.add_float("rate", &o.rate, "rate", 0.0, 1.0);
  f.add_string("dir", &o.dir, "dir");
  const char* argv[] = {"p", "--lifetime=31536000", "--log-size", "7", "--status=429", "--rate=0.25", "--dir", "/x/y"};
  auto r = f.parse(8, argv);
  ASSERT_EQ(r.outcome, FlagSet::Outcome::run) << r.message;
  EXPECT_EQ(o.lifetime, 31536000);
  EXPECT_EQ(o.log_size, 7u);
  EXPECT_EQ(o.status, 429u);
  EXPECT_EQ(o.rate, 0.25);
  EXPECT_EQ(o.dir, std::filesystem::path("/x/y"));
  for (const char* bad : {"--rate=1.5", "--rate=x", "--rate=", "--status=600", "--log-size=0"}) {
    const char* args[] = {"p", bad};
    auto e = f.parse(2, args);
    EXPECT_EQ(e.outcome, FlagSet::Outcome::error) << bad;
    EXPECT_NE(e.message.find(std::string(bad).substr(0, std::string(bad).find('='))), std::string::npos) << e.message;
  }
  std::string usage = f.usage();
  EXPECT_NE(usage.find("--rate=float"), std::string::npos) << usage;
  EXPECT_NE(usage.find("(default 503)"), std::string::npos) << usage;
}

TEST(Flags, VersionIsAnOutcomeWithTheProgramsNameUnlessTurnedOffAgain) {
  FlagSet f("azwi-x", "s");
  f.add_version("1.2.3");
  const char* ask[] = {"azwi-x", "--version"};
  auto r = f.parse(2, ask);
  EXPECT_EQ(r.outcome, FlagSet::Outcome::version);
  EXPECT_EQ(r.message, "azwi-x 1.2.3\n");
  const char* off[] = {"azwi-x", "--version", "--version=false"};
  EXPECT_EQ(f.parse(3, off).outcome, FlagSet::Outcome::run);
  const char* none[] = {"azwi-x"};
  EXPECT_EQ(f.parse(1, none).outcome, FlagSet::Outcome::run);
  EXPECT_NE(f.usage().find("--version"), std::string::npos);
}

namespace {
// Runs run_command with stderr sent to a file, returning (exit code, what it wrote on stderr).
std::pair<int, std::string> dispatch(std::vector<std::string> args, bool unknown_line = true) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  std::string seen;
  std::vector<Command> commands{{"run", [&](int argc, char** v) {
                                   seen = std::string(v[0]) + ":" + std::to_string(argc);
                                   return 7;
                                 }}};
  std::FILE* err = std::tmpfile();
  std::fflush(stderr);
  int saved = dup(fileno(stderr));
  dup2(fileno(err), fileno(stderr));
  int rc = run_command("prog", "Usage: prog run\n", commands, static_cast<int>(argv.size()), argv.data(), unknown_line);
  std::fflush(stderr);
  dup2(saved, fileno(stderr));
  close(saved);
  std::string text(static_cast<std::size_t>(std::ftell(err)), '\0');
  std::rewind(err);
  text.resize(std::fread(text.data(), 1, text.size(), err));
  std::fclose(err);
  if (rc == 7) return {rc, seen};
  return {rc, text};
}
}  // namespace

TEST(Flags, SubcommandsSeeTheirNameAsArgv0AndUsageErrorsExit2) {
  EXPECT_EQ(dispatch({"prog", "run", "--x"}), (std::pair<int, std::string>{7, "run:2"}));
  EXPECT_EQ(dispatch({"prog"}), (std::pair<int, std::string>{2, "Usage: prog run\n"}));
  EXPECT_EQ(dispatch({"prog", "walk"}), (std::pair<int, std::string>{2, "prog: unknown command \"walk\"\n\nUsage: prog run\n"}));
  EXPECT_EQ(dispatch({"prog", "walk"}, false), (std::pair<int, std::string>{2, "Usage: prog run\n"}));
  EXPECT_EQ(dispatch({"prog", "--help"}).first, 0);
}
