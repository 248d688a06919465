// The chunk solver (chunk_solver.h) compiled for AVX2, in its own LASSONET_ISA namespace; the op
// runs it where the CPU has AVX2 (hier_prox_cpu.cpp decides). Only the standard library and our
// torch-free headers are compiled here: the target switch comes after the standard headers, so no
// AVX2 copy of a library inline function can replace the baseline one at link time. No FMA: the
// results stay bitwise equal to the baseline build's.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define LASSONET_AVX2_BUILD 1
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2")
#endif
#endif

#define LASSONET_ISA isa_avx2
#define LASSONET_ROLLED_DOUBLE 1  // 4-double vectors: vectorised loops beat unrolled scalar ones
#include "chunk_solver.h"

namespace lassonet {

void solve_chunks_avx2(const ChunkJob<float>& job, int64_t t0, int64_t t1) {
  solve_chunks(job, t0, t1);
}

void solve_chunks_avx2(const ChunkJob<double>& job, int64_t t0, int64_t t1) {
  solve_chunks(job, t0, t1);
}

}  // namespace lassonet

#if defined(LASSONET_AVX2_BUILD)
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif

namespace lassonet {

bool avx2_chunks_available() {
#if defined(LASSONET_AVX2_BUILD)
  return __builtin_cpu_supports("avx2");
#else
  return false;
#endif
}

}  // namespace lassonet
