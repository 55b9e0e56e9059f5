// The process figures on /metrics: /proc/<pid>/stat read right whatever the command name holds, and the rendered
// figures following what the process does (descriptors opened, memory held and given back).
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "common/process_metrics.hpp"

using namespace azwi;

namespace {
// The value of an unlabelled sample in exposition text; -1 when absent.
double sample(const std::string& text, const std::string& name) {
  auto at = text.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::strtod(text.c_str() + at + name.size() + 2, nullptr);
}

std::string rendered() {
  std::string out;
  metrics::render_process_metrics(out);
  return "\n" + out;
}
}  // namespace

TEST(ProcessStat, FieldsAreCountedFromTheLastParenthesisOfTheCommandName) {
  // utime 250 and stime 50 ticks, start 1000 ticks after boot.
  std::string text = "4242 (odd) name (x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 1000 8388608 300 "
                     "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
  auto stat = metrics::parse_proc_stat(text, 100);
  ASSERT_TRUE(stat);
  EXPECT_DOUBLE_EQ(stat->cpu_seconds, 3.0);
  EXPECT_DOUBLE_EQ(stat->start_seconds_after_boot, 10.0);
}

TEST(ProcessStat, StatmGivesVirtualAndResidentPages) {
  auto memory = metrics::parse_proc_statm("2048 300 150 100 0 500 0\n");
  ASSERT_TRUE(memory);
  EXPECT_EQ(memory->virtual_pages, 2048u);
  EXPECT_EQ(memory->resident_pages, 300u);
  EXPECT_FALSE(metrics::parse_proc_statm(""));
  EXPECT_FALSE(metrics::parse_proc_statm("2048"));
  EXPECT_FALSE(metrics::parse_proc_statm("2048 x300 1"));
}

TEST(ProcessStat, TextOfAnotherShapeIsRefused) {
  EXPECT_FALSE(metrics::parse_proc_stat("", 100));
  EXPECT_FALSE(metrics::parse_proc_stat("4242 (short) S 1 2 3\n", 100));
  EXPECT_FALSE(metrics::parse_proc_stat("4242 (x) S 1 2 3 4 5 6 7 8 9 10 ten 11 12 13 14 15 16 17 18 19 20 21\n", 100));
  EXPECT_FALSE(metrics::parse_proc_stat("no parenthesis at all", 100));
}

TEST(ProcessMetrics, EveryFamilyHasHelpTypeAndAValue) {
  std::string text = rendered();
  for (const char* name : {"process_cpu_seconds_total", "process_resident_memory_bytes", "process_virtual_memory_bytes",
                           "process_start_time_seconds", "process_open_fds", "process_max_fds",
                           "azwi_heap_in_use_bytes", "azwi_heap_free_bytes"}) {
    EXPECT_NE(text.find(std::string("\n# HELP ") + name + " "), std::string::npos) << name;
    EXPECT_NE(text.find(std::string("\n# TYPE ") + name + " "), std::string::npos) << name;
    EXPECT_GE(sample(text, name), 0) << name << "\n" << text;
  }
  EXPECT_GT(sample(text, "process_resident_memory_bytes"), 1 << 20);
  EXPECT_GT(sample(text, "process_start_time_seconds"), 1.6e9);  // after 2020: the boot time was added
  // Numbers as the Prometheus clients write them: the shortest form, no binary-fraction noise (0.07, not
  // 0.070000000000000007).
  auto at = text.find("\nprocess_cpu_seconds_total ");
  std::string cpu = text.substr(at + 27, text.find('\n', at + 1) - at - 27);
  EXPECT_LE(cpu.size(), 8u) << cpu;
}

TEST(ProcessMetrics, OpenDescriptorsCountWhatTheProcessOpened) {
  double before = sample(rendered(), "process_open_fds");
  int fds[5];
  for (int& fd : fds) fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  double during = sample(rendered(), "process_open_fds");
  for (int fd : fds) close(fd);
  EXPECT_EQ(during - before, 5);
  EXPECT_EQ(sample(rendered(), "process_open_fds"), before);
}

TEST(ProcessMetrics, HeapInUseFollowsMemoryHeldAndFreed) {
  constexpr std::size_t size = 32u << 20;
  double before = sample(rendered(), "azwi_heap_in_use_bytes");
  char* block = static_cast<char*>(std::malloc(size));
  ASSERT_NE(block, nullptr);
  std::memset(block, 1, size);
  double held = sample(rendered(), "azwi_heap_in_use_bytes");
  std::free(block);
  double after = sample(rendered(), "azwi_heap_in_use_bytes");
  EXPECT_GE(held - before, size);
  EXPECT_LT(after, before + (1 << 20));
}
