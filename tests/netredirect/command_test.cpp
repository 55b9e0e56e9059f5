#include "netredirect/command.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <cerrno>
#include <chrono>

using namespace azwi::netredirect;
using namespace std::chrono_literals;

TEST(ProxyInitCommand, CapturesStdoutStderrAndExitCode) {
  CommandResult r = run_command({"sh", "-c", "echo out; echo err >&2; exit 3"});
  EXPECT_EQ(r.status, CommandResult::Status::exited);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.describe(), "exit code 3");
}

TEST(ProxyInitCommand, FeedsStdin) {
  CommandOptions o;
  o.input = std::string(300000, 'x') + "\nend\n";  // larger than a pipe buffer
  CommandResult r = run_command({"cat"}, o);
  ASSERT_TRUE(r.ok()) << r.describe() << r.err;
  EXPECT_EQ(r.out, o.input);
}

TEST(ProxyInitCommand, ArgumentsAreNotInterpretedByAShell) {
  CommandResult r = run_command({"echo", "$HOME; rm -rf /", "`id`"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.out, "$HOME; rm -rf / `id`\n");
}

TEST(ProxyInitCommand, MissingProgramIsReportedAsNotFound) {
  CommandResult r = run_command({"azwi-no-such-program-for-test"});
  EXPECT_EQ(r.status, CommandResult::Status::spawn_failed);
  EXPECT_EQ(r.spawn_errno, ENOENT);
  EXPECT_NE(r.describe().find("No such file"), std::string::npos);
}

TEST(ProxyInitCommand, HungProgramIsKilledAtTheTimeout) {
  CommandOptions o;
  o.timeout = 300ms;
  auto start = std::chrono::steady_clock::now();
  // The child of the shell is in the same process group and must die too, or the pipe would stay open.
  CommandResult r = run_command({"sh", "-c", "sleep 30 & sleep 30"}, o);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.status, CommandResult::Status::timed_out);
  EXPECT_LT(took, 5s);
}

TEST(ProxyInitCommand, ProgramThatIgnoresStdinStillGetsItsInputDropped) {
  CommandOptions o;
  o.input = std::string(1 << 20, 'y');
  CommandResult r = run_command({"true"}, o);
  EXPECT_TRUE(r.ok()) << r.describe();
}

TEST(ProxyInitCommand, SignalIsReported) {
  CommandResult r = run_command({"sh", "-c", "kill -TERM $$"});
  EXPECT_EQ(r.status, CommandResult::Status::signaled);
  EXPECT_EQ(r.signal, SIGTERM);
}

TEST(ProxyInitCommand, OutputIsBounded) {
  CommandOptions o;
  o.max_output = 1000;
  CommandResult r = run_command({"head", "-c", "100000", "/dev/zero"}, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.out.size(), 1000u);
}

TEST(ProxyInitCommand, FormatArgvQuotesOnlyWhenNeeded) {
  EXPECT_EQ(format_argv({"iptables-restore", "--noflush"}), "iptables-restore --noflush");
  EXPECT_EQ(format_argv({"echo", "a b", "it's", ""}), "echo 'a b' 'it'\\''s' ''");
}
