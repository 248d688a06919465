// The chunk solver (chunk_solver.h) compiled for AVX2, in its own LASSONET_ISA namespace; the op
// runs it where the CPU has AVX2 and not AVX-512 (hier_prox_cpu.cpp decides). Only the standard
// library and our torch-free headers are compiled here (isa_begin.h says why). No FMA (not in the
// target, and the build has -ffp-contract=off): the results stay bitwise equal to the baseline's.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <type_traits>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>  // for the sorted chunks' max/min, before the target region (isa_begin.h says why)
#endif

#define LASSONET_ISA_TARGET "avx2"
#include "isa_begin.h"
#define LASSONET_ISA isa_avx2
#if defined(LASSONET_ISA_BUILD)
#define LASSONET_LANES_AVX2 1  // the sorted chunks' compare-exchange as AVX max/min (chunk_solver.h)
#endif
#define LASSONET_ROLLED_DOUBLE 1  // 4-double vectors: vectorised loops beat unrolled scalar ones
#include "chunk_solver.h"
LASSONET_CHUNK_ENTRY_POINTS(avx2)
#include "isa_end.h"

bool lassonet::avx2_chunks_available() {
#if defined(LASSONET_ISA_BUILD)
  return __builtin_cpu_supports("avx2");
#else
  return false;
#endif
}
