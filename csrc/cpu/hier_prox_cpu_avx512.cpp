// The chunk solver (chunk_solver.h) compiled for AVX-512 (F, VL, BW, DQ: Intel Skylake-SP and
// later, AMD Zen 4 and later), in its own LASSONET_ISA namespace, as hier_prox_cpu_avx2.cpp does
// for AVX2; the op prefers it where the CPU has it (hier_prox_cpu.cpp decides). A float chunk's
// row (32 features) is two vectors. AVX-512 brings FMA, which the build's -ffp-contract=off keeps
// out of the arithmetic, so the results stay bitwise equal to the baseline build's.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <type_traits>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>  // for scratch_round_avx512.h, before the target region (isa_begin.h says why)
#endif

#define LASSONET_ISA_TARGET "avx512f,avx512vl,avx512bw,avx512dq"
#include "isa_begin.h"
#define LASSONET_ISA isa_avx512
#define LASSONET_ROLLED_DOUBLE 1  // 8-double vectors: as with AVX2, the rolled loops vectorise
#define LASSONET_CHUNK_BYTES 128  // two 64-byte vectors per row: 32 float or 16 double features
#if defined(LASSONET_ISA_BUILD)
#define LASSONET_SCRATCH_ROUND_AVX512 1  // search rounds that drop spent rows (scratch_round_avx512.h)
#endif
#include "chunk_solver.h"
LASSONET_CHUNK_ENTRY_POINTS(avx512)
#include "isa_end.h"

bool lassonet::avx512_chunks_available() {
#if defined(LASSONET_ISA_BUILD)
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
#else
  return false;
#endif
}
