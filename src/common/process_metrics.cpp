#include "common/process_metrics.hpp"

#include <dirent.h>
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <vector>

#include "common/files.hpp"

#if defined(__SANITIZE_ADDRESS__)  // g++ -fsanitize=address
#define AZWI_SANITIZER_ALLOCATOR 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)  // clang
#define AZWI_SANITIZER_ALLOCATOR 1
#endif
#endif
#ifdef AZWI_SANITIZER_ALLOCATOR
#include <sanitizer/allocator_interface.h>
#endif

namespace azwi::metrics {
namespace {

void family(std::string& out, const char* name, const char* type, const char* help, double value) {
  char number[64];
  // The shortest text that reads back exactly: byte counts past 10 digits stay exact, which the registry's
  // %.10g (enough for its counters and latencies) would round.
  auto end = std::to_chars(number, number + sizeof number, value).ptr;
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " ";
  out.append(number, end);
  out += '\n';
}

std::optional<std::size_t> open_descriptors() {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return std::nullopt;
  std::size_t n = 0;
  while (dirent* e = readdir(dir))
    if (e->d_name[0] != '.') ++n;
  closedir(dir);
  return n ? n - 1 : 0;  // the directory stream's own descriptor
}

std::optional<double> read_boot_time() {
  auto text = read_file("/proc/stat");
  if (!text) return std::nullopt;
  auto at = text->find("\nbtime ");
  if (at == std::string::npos) return std::nullopt;
  const char* begin = text->data() + at + 7;
  std::uint64_t seconds = 0;
  if (std::from_chars(begin, text->data() + text->size(), seconds).ec != std::errc()) return std::nullopt;
  return static_cast<double>(seconds);
}

// Read once: /proc/stat is long on a machine with many CPUs, and the boot time does not change.
const std::optional<double>& boot_time() {
  static const std::optional<double> seconds = read_boot_time();
  return seconds;
}

}  // namespace

std::optional<ProcessStat> parse_proc_stat(std::string_view text, long ticks_per_second) {
  auto close = text.rfind(')');
  if (close == std::string_view::npos || ticks_per_second <= 0) return std::nullopt;
  // Fields from the state (field 3) on, split on spaces.
  std::vector<std::string_view> fields;
  std::string_view rest = text.substr(close + 1);
  while (!rest.empty()) {
    auto start = rest.find_first_not_of(" \n");
    if (start == std::string_view::npos) break;
    rest.remove_prefix(start);
    auto end = rest.find_first_of(" \n");
    fields.push_back(rest.substr(0, end));
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
  }
  auto number = [&](std::size_t field) -> std::optional<std::uint64_t> {
    if (field - 3 >= fields.size()) return std::nullopt;
    std::string_view f = fields[field - 3];
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(f.data(), f.data() + f.size(), v);
    if (ec != std::errc() || end != f.data() + f.size()) return std::nullopt;
    return v;
  };
  auto utime = number(14), stime = number(15), start = number(22);
  if (!utime || !stime || !start) return std::nullopt;
  auto ticks = static_cast<double>(ticks_per_second);
  return ProcessStat{static_cast<double>(*utime + *stime) / ticks, static_cast<double>(*start) / ticks};
}

std::optional<ProcessMemory> parse_proc_statm(std::string_view text) {
  ProcessMemory m;
  const char* p = text.data();
  const char* end = text.data() + text.size();
  for (std::uint64_t* field : {&m.virtual_pages, &m.resident_pages}) {
    while (p < end && *p == ' ') ++p;
    auto [next, ec] = std::from_chars(p, end, *field);
    if (ec != std::errc() || (next < end && *next != ' ' && *next != '\n')) return std::nullopt;
    p = next;
  }
  return m;
}

void render_process_metrics(std::string& out) {
  if (auto text = read_file("/proc/self/stat")) {
    if (auto stat = parse_proc_stat(*text, sysconf(_SC_CLK_TCK))) {
      family(out, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.",
             stat->cpu_seconds);
      if (const auto& boot = boot_time())
        family(out, "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.",
               *boot + stat->start_seconds_after_boot);
    }
  }
  if (auto text = read_file("/proc/self/statm")) {
    if (auto memory = parse_proc_statm(*text)) {
      auto page = static_cast<double>(sysconf(_SC_PAGESIZE));
      family(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
             static_cast<double>(memory->resident_pages) * page);
      family(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
             static_cast<double>(memory->virtual_pages) * page);
    }
  }
  if (auto fds = open_descriptors())
    family(out, "process_open_fds", "gauge", "Number of open file descriptors.", static_cast<double>(*fds));
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY)
    family(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
           static_cast<double>(limit.rlim_cur));
#ifdef AZWI_SANITIZER_ALLOCATOR  // the sanitized build's malloc is the sanitizer's, not glibc's
  double in_use = static_cast<double>(__sanitizer_get_current_allocated_bytes());
  double free_bytes = static_cast<double>(__sanitizer_get_free_bytes());
#else
  // mallinfo2 walks every arena under its lock: cheap at scrape rate, never on a request path.
  struct mallinfo2 heap = mallinfo2();
  double in_use = static_cast<double>(heap.uordblks + heap.hblkhd);
  double free_bytes = static_cast<double>(heap.fordblks);
#endif
  family(out, "azwi_heap_in_use_bytes", "gauge",
         "Bytes of heap in use as malloc counts them (allocated and not yet returned to its arenas; mmap-ed blocks "
         "included).", in_use);
  family(out, "azwi_heap_free_bytes", "gauge",
         "Bytes malloc holds free in its arenas for reuse, resident or not: neither in use nor leaked.", free_bytes);
}

}  // namespace azwi::metrics
