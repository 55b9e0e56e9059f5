// libFuzzer target: any bytes as a kubeconfig file. Reading it either gives a configuration or throws
// std::runtime_error saying what is wrong; nothing else escapes and nothing crashes.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>

#include "kube/cluster_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path = "/tmp/azwi-fuzz-kubeconfig-" + std::to_string(::getpid());
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    (void)azwi::kube::kubeconfig_config(path);
  } catch (const std::runtime_error&) {
  }
  ::unlink(path.c_str());
  return 0;
}
