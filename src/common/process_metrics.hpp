#pragma once
// The process's own figures on /metrics, read at scrape time: the names and meanings of the Prometheus client
// libraries' process collector (the upstream webhook's controller-runtime endpoint serves them, so dashboards built
// for it keep working), and the allocator's view of the heap, which tells a leak (bytes in use growing) from memory
// the allocator keeps for reuse after a burst (resident memory up, bytes in use flat).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace azwi::metrics {

struct ProcessStat {
  double cpu_seconds = 0;  // user + system
  double start_seconds_after_boot = 0;
};
// Fields of /proc/<pid>/stat; nullopt when the text is not that format. The command name may hold spaces and
// parentheses, so the fields are counted from its last ')'.
std::optional<ProcessStat> parse_proc_stat(std::string_view text, long ticks_per_second);

struct ProcessMemory {
  std::uint64_t virtual_pages = 0;
  std::uint64_t resident_pages = 0;
};
// The first two fields of /proc/<pid>/statm (read for memory rather than stat's, which qemu-user fakes as 0).
std::optional<ProcessMemory> parse_proc_statm(std::string_view text);

// Appends the process_* and azwi_heap_* families in the text exposition format. A figure that cannot be read
// (no /proc) is left out rather than reported as 0.
void render_process_metrics(std::string& out);

}  // namespace azwi::metrics
