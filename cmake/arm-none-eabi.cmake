# Toolchain file: bare-metal Cortex-M4 with arm-none-eabi-gcc (Debian's
# gcc-arm-none-eabi + libnewlib-arm-none-eabi). Used by make size and make test:
#   cmake -S . -B build/cortex-m4 -DCMAKE_TOOLCHAIN_FILE=cmake/arm-none-eabi.cmake \
#         -DRP_CORE_ONLY=ON -DCMAKE_BUILD_TYPE=MinSizeRel
# Only the portable core (lib/) is built: static libraries, no executables, so no
# linker script or startup code is needed. The core makes no OS calls; newlib
# provides the few freestanding helpers the compiler may call (memcpy, memset).
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)

set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_AR arm-none-eabi-ar CACHE FILEPATH "")
set(CMAKE_RANLIB arm-none-eabi-ranlib CACHE FILEPATH "")

# There is no OS to run a test program on: check the compiler with a library.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

set(RP_CORTEX_M4_FLAGS "-mcpu=cortex-m4 -mthumb -mfloat-abi=soft")
set(CMAKE_C_FLAGS_INIT "${RP_CORTEX_M4_FLAGS} -Os -ffunction-sections -fdata-sections")

# Look for headers and libraries only in the target environment, programs on the host.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
