// The chunk solver (chunk_solver.h) compiled for AVX-512 (F, VL, BW, DQ: Intel Skylake-SP and
// later, AMD Zen 4 and later), in its own LASSONET_ISA namespace, as hier_prox_cpu_avx2.cpp does
// for AVX2; the op prefers it where the CPU has it (hier_prox_cpu.cpp decides). A float chunk's
// row (16 features) is one vector. AVX-512 brings FMA, which the build's -ffp-contract=off keeps
// out of the arithmetic, so the results stay bitwise equal to the baseline build's.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define LASSONET_AVX512_BUILD 1
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq")
#endif
#endif

#define LASSONET_ISA isa_avx512
#define LASSONET_ROLLED_DOUBLE 1  // 8-double vectors: as with AVX2, the rolled loops vectorise
#include "chunk_solver.h"

namespace lassonet {

void solve_chunks_avx512(const ChunkJob<float>& job, int64_t t0, int64_t t1) {
  solve_chunks(job, t0, t1);
}

void solve_chunks_avx512(const ChunkJob<double>& job, int64_t t0, int64_t t1) {
  solve_chunks(job, t0, t1);
}

}  // namespace lassonet

#if defined(LASSONET_AVX512_BUILD)
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif

namespace lassonet {

bool avx512_chunks_available() {
#if defined(LASSONET_AVX512_BUILD)
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
#else
  return false;
#endif
}

}  // namespace lassonet
