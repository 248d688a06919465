// Opens the region of an instruction-set copy of the chunk solver (hier_prox_cpu_avx2.cpp,
// hier_prox_cpu_avx512.cpp): the including file defines LASSONET_ISA_TARGET (a GCC/Clang target
// string) and includes this after the standard headers, so no copy of a library inline function
// built for that target can replace the baseline one at link time; isa_end.h closes the region.
// Where the compiler cannot target it (not GCC or Clang on x86), nothing is switched and
// LASSONET_ISA_BUILD stays undefined: the copy's *_available() must then answer false.
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define LASSONET_ISA_BUILD 1
#define LASSONET_PRAGMA_(x) _Pragma(#x)
#define LASSONET_PRAGMA(x) LASSONET_PRAGMA_(x)
#if defined(__clang__)
LASSONET_PRAGMA(clang attribute push(__attribute__((target(LASSONET_ISA_TARGET))), apply_to = function))
#else
#pragma GCC push_options
LASSONET_PRAGMA(GCC target(LASSONET_ISA_TARGET))
#endif
#endif

// Defines the copy's entry points, solve_features_<isa> for float and double (declared in
// chunk_solver.h); used inside the region, after including chunk_solver.h.
#define LASSONET_CHUNK_ENTRY_POINTS(isa)                                      \
  namespace lassonet {                                                         \
  void solve_features_##isa(const ChunkJob<float>& job, int64_t j0, int64_t j1) {  \
    solve_features(job, j0, j1);                                                  \
  }                                                                               \
  void solve_features_##isa(const ChunkJob<double>& job, int64_t j0, int64_t j1) { \
    solve_features(job, j0, j1);                                                  \
  }                                                                               \
  }
