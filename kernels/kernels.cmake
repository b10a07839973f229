# The kernel library: a portable core plus one translation unit per SIMD path,
# each compiled with only its own ISA flags so that run-time dispatch is safe.
set(BITNET_KERNEL_DIR ${CMAKE_CURRENT_LIST_DIR})
add_library(bitnet_kernels STATIC
  ${BITNET_KERNEL_DIR}/cpu_features.cpp
  ${BITNET_KERNEL_DIR}/thread_pool.cpp
  ${BITNET_KERNEL_DIR}/dispatch.cpp
  ${BITNET_KERNEL_DIR}/pack.cpp
  ${BITNET_KERNEL_DIR}/path_scalar.cpp
  ${BITNET_KERNEL_DIR}/runtime.cpp
  ${BITNET_KERNEL_DIR}/runtime_ops.cpp
  ${BITNET_KERNEL_DIR}/sampling.cpp
  ${BITNET_KERNEL_DIR}/head_scalar.cpp)
target_include_directories(bitnet_kernels PUBLIC ${BITNET_KERNEL_DIR})
find_package(Threads REQUIRED)
target_link_libraries(bitnet_kernels PUBLIC Threads::Threads)
if(NOT MSVC)
  target_compile_options(bitnet_kernels PRIVATE -O3 -fno-math-errno -Wall -Wextra)
endif()

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64")
  if(EXISTS ${BITNET_KERNEL_DIR}/path_avx2.cpp)
    target_sources(bitnet_kernels PRIVATE ${BITNET_KERNEL_DIR}/path_avx2.cpp
      ${BITNET_KERNEL_DIR}/path_avx2_gemm.cpp)
    set_source_files_properties(${BITNET_KERNEL_DIR}/path_avx2.cpp
      ${BITNET_KERNEL_DIR}/path_avx2_gemm.cpp PROPERTIES
      COMPILE_OPTIONS "-mavx2;-mfma;-mf16c")
    target_compile_definitions(bitnet_kernels PRIVATE BITNET_HAVE_AVX2=1)
    target_sources(bitnet_kernels PRIVATE ${BITNET_KERNEL_DIR}/head_avx2.cpp)
    set_source_files_properties(${BITNET_KERNEL_DIR}/head_avx2.cpp PROPERTIES
      COMPILE_OPTIONS "-mavx2;-mfma;-mf16c")
    # AVX2 + AVX-VNNI (GCC 11+ / Clang 12+); without the flag the path is simply absent.
    include(CheckCXXCompilerFlag)
    check_cxx_compiler_flag(-mavxvnni BITNET_CXX_HAS_AVXVNNI)
    if(BITNET_CXX_HAS_AVXVNNI)
      target_sources(bitnet_kernels PRIVATE ${BITNET_KERNEL_DIR}/path_avxvnni.cpp)
      set_source_files_properties(${BITNET_KERNEL_DIR}/path_avxvnni.cpp PROPERTIES
        COMPILE_OPTIONS "-mavx2;-mfma;-mf16c;-mavxvnni")
      target_compile_definitions(bitnet_kernels PRIVATE BITNET_HAVE_AVXVNNI=1)
    endif()
  endif()
  if(EXISTS ${BITNET_KERNEL_DIR}/path_avx512.cpp)
    target_sources(bitnet_kernels PRIVATE ${BITNET_KERNEL_DIR}/path_avx512.cpp)
    set_source_files_properties(${BITNET_KERNEL_DIR}/path_avx512.cpp PROPERTIES
      COMPILE_OPTIONS "-mavx2;-mfma;-mf16c;-mavx512f;-mavx512bw;-mavx512vl;-mavx512dq;-mavx512vnni")
    target_compile_definitions(bitnet_kernels PRIVATE BITNET_HAVE_AVX512=1)
    target_sources(bitnet_kernels PRIVATE ${BITNET_KERNEL_DIR}/path_amx_gemm.cpp)
    set_source_files_properties(${BITNET_KERNEL_DIR}/path_amx_gemm.cpp PROPERTIES
      COMPILE_OPTIONS "-mavx2;-mfma;-mf16c;-mavx512f;-mavx512bw;-mavx512vl;-mavx512vnni;-mamx-tile;-mamx-int8")
    target_sources(bitnet_kernels PRIVATE ${BITNET_KERNEL_DIR}/head_avx512.cpp)
    set_source_files_properties(${BITNET_KERNEL_DIR}/head_avx512.cpp PROPERTIES
      COMPILE_OPTIONS "-mavx2;-mfma;-mf16c;-mavx512f;-mavx512bw;-mavx512vl;-mavx512dq;-mavx512vnni")
  endif()
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64|ARM64")
  if(EXISTS ${BITNET_KERNEL_DIR}/path_neon.cpp)
    target_sources(bitnet_kernels PRIVATE ${BITNET_KERNEL_DIR}/path_neon.cpp)
    set_source_files_properties(${BITNET_KERNEL_DIR}/path_neon.cpp PROPERTIES
      COMPILE_OPTIONS "-march=armv8.2-a+dotprod+fp16")
    target_compile_definitions(bitnet_kernels PRIVATE BITNET_HAVE_NEON=1)
  endif()
endif()

if(BITNET_SANITIZE)
  target_compile_options(bitnet_kernels PUBLIC -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(bitnet_kernels PUBLIC -fsanitize=address,undefined)
endif()

# 1-bit (binary) kernels: portable core plus one file per SIMD path, same ISA flags as
# the ternary paths.
target_sources(bitnet_kernels PRIVATE ${BITNET_KERNEL_DIR}/binary_scalar.cpp
  ${BITNET_KERNEL_DIR}/binary_dispatch.cpp)
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64")
  target_sources(bitnet_kernels PRIVATE ${BITNET_KERNEL_DIR}/binary_avx2.cpp
    ${BITNET_KERNEL_DIR}/binary_avx512.cpp ${BITNET_KERNEL_DIR}/binary_amx.cpp)
  set_source_files_properties(${BITNET_KERNEL_DIR}/binary_amx.cpp PROPERTIES
    COMPILE_OPTIONS "-mavx512f;-mavx512bw;-mavx512vbmi;-mamx-tile;-mamx-int8")
  set_source_files_properties(${BITNET_KERNEL_DIR}/binary_avx2.cpp PROPERTIES
    COMPILE_OPTIONS "-mavx2;-mfma;-mf16c")
  set_source_files_properties(${BITNET_KERNEL_DIR}/binary_avx512.cpp PROPERTIES
    COMPILE_OPTIONS "-mavx2;-mfma;-mf16c;-mavx512f;-mavx512bw;-mavx512vl;-mavx512dq;-mavx512vnni")
  target_compile_definitions(bitnet_kernels PRIVATE BITNET_HAVE_BINARY_AVX2=1 BITNET_HAVE_BINARY_AVX512=1)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64|ARM64")
  target_sources(bitnet_kernels PRIVATE ${BITNET_KERNEL_DIR}/binary_neon.cpp)
  set_source_files_properties(${BITNET_KERNEL_DIR}/binary_neon.cpp PROPERTIES
    COMPILE_OPTIONS "-march=armv8.2-a+dotprod+fp16")
  target_compile_definitions(bitnet_kernels PRIVATE BITNET_HAVE_BINARY_NEON=1)
endif()
