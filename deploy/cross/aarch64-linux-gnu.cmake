# CMake toolchain for linux/arm64 with Debian's cross compiler (crossbuild-essential-arm64) and the sysroot of
# deploy/cross/arm64-sysroot.sh, given as AZWI_SYSROOT (environment or -D). Programs built with it run on an amd64
# host under qemu-aarch64-static (CMAKE_CROSSCOMPILING_EMULATOR), so ctest runs the arm64 tests as it runs amd64's.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
if(NOT AZWI_SYSROOT)
  set(AZWI_SYSROOT "$ENV{AZWI_SYSROOT}")
endif()
if(NOT AZWI_SYSROOT)
  message(FATAL_ERROR "AZWI_SYSROOT is not set (deploy/cross/arm64-sysroot.sh prints it)")
endif()
# try_compile projects get the variable too.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES AZWI_SYSROOT)
set(CMAKE_SYSROOT "${AZWI_SYSROOT}")
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH "${AZWI_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# -L: the sysroot's libstdc++ and libc development files are where the cross compiler's own are not.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64-static -L "${AZWI_SYSROOT}")
