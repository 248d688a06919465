// The CPU kernel's chunk solver: passes over C adjacent features at a time, vectorised across
// them. No torch types, so that it can be compiled once per instruction set
// (hier_prox_cpu.cpp: baseline x86-64 or any other CPU; hier_prox_cpu_avx2.cpp: AVX2;
// hier_prox_cpu_avx512.cpp: AVX-512), each copy in its own LASSONET_ISA namespace (see hier_prox.h).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <numeric>
#include <type_traits>

#include "../hier_prox.h"

// Whether the per-feature loops stay rolled for double too (see for_each_feature): set by the
// AVX2 and AVX-512 builds, where 4- and 8-double vectors make the rolled, vectorised loops faster.
#ifndef LASSONET_ROLLED_DOUBLE
#define LASSONET_ROLLED_DOUBLE 0
#endif

// Whether the sorted small-K chunks keep their rows in registers as GCC vectors
// (sort_lanes_in_registers); other compilers (and builds that set it to 0, as the harness can)
// run the same operations on arrays, with the same results bit for bit.
#ifndef LASSONET_LANE_VECTORS
#if defined(__GNUC__) && !defined(__clang__)
#define LASSONET_LANE_VECTORS 1
#else
#define LASSONET_LANE_VECTORS 0
#endif
#endif

// Bytes of one row of a chunk's accumulators: two AVX2 vectors, or two AVX-512 ones in that build
// (which sets 128), so that every pass keeps two independent dependency chains in flight per row
// (the passes are latency-bound: Condat's filter waits for the previous row's result). Four
// vectors were no faster with AVX-512 and made AVX2 slower (register spills).
#ifndef LASSONET_CHUNK_BYTES
#define LASSONET_CHUNK_BYTES 64
#endif

// A function kept out of line, or always inlined, where GCC's own choice measured slower (see
// their uses).
#if defined(__GNUC__)
#define LASSONET_NOINLINE __attribute__((noinline))
#define LASSONET_ALWAYS_INLINE __attribute__((always_inline)) inline
#else
#define LASSONET_NOINLINE
#define LASSONET_ALWAYS_INLINE inline
#endif

namespace lassonet {

// One call of the op on a W whose features are adjacent in memory (nn.Linear weights): W's rows at
// w[k * w_row + j], theta column j at th[j * th_col] with stride th_row (m outputs). lam, M,
// lam_bar as the op got them.
template <typename scalar_t>
struct ChunkJob {
  scalar_t* w;
  int64_t w_row, K;
  scalar_t* th;
  int64_t th_row, th_col, m;
  double lam, M, lam_bar;
};

// The AVX2 and AVX-512 copies of solve_features (hier_prox_cpu_avx2.cpp, hier_prox_cpu_avx512.cpp),
// for float and double. Use one only where its *_available() says so: compiled in (GCC or Clang on
// x86-64) and this CPU has the instructions.
bool avx2_chunks_available();
void solve_features_avx2(const ChunkJob<float>& job, int64_t j0, int64_t j1);
void solve_features_avx2(const ChunkJob<double>& job, int64_t j0, int64_t j1);
bool avx512_chunks_available();
void solve_features_avx512(const ChunkJob<float>& job, int64_t j0, int64_t j1);
void solve_features_avx512(const ChunkJob<double>& job, int64_t j0, int64_t j1);

inline namespace LASSONET_ISA {

// Features per chunk: LASSONET_CHUNK_BYTES of accumulators per row, few enough that they stay in
// registers while the loop walks down the K rows.
template <typename scalar_t>
constexpr int chunk_width() {
  return static_cast<int>(LASSONET_CHUNK_BYTES / sizeof(acc_t<scalar_t>));
}

// f(0), ..., f(C - 1): one step of a pass for each feature of a chunk. With float accumulation GCC
// must not fully unroll this loop: unrolled, it is no longer a loop the vectoriser sees, and the
// active-set passes ran scalar (3x slower). With double and SSE2 (2 doubles per vector) full
// unrolling is the faster scalar code, so it is left to the compiler there; with AVX2 the rolled
// loops win for double too (float64 d = 1e5, K = 256: 72-88 vs 142-151 ms, 1 thread).
template <int C, typename A, typename F>
inline void for_each_feature(F&& f) {
#if defined(__GNUC__) && !defined(__clang__)
  if constexpr (std::is_same<A, float>::value || LASSONET_ROLLED_DOUBLE) {
#pragma GCC unroll 1
    for (int c = 0; c < C; ++c) f(c);
    return;
  }
#endif
  for (int c = 0; c < C; ++c) f(c);
}

// Asks for p's cache line in L1, or with kToL2 in L2 only.
template <bool kToL2 = false, typename T>
inline void prefetch(const T* p) {
#if defined(__GNUC__)
  __builtin_prefetch(p, 0, kToL2 ? 2 : 3);
#endif
}

// Where the sorted chunks ask for the next chunk's rows: not at all, into L1, or into L2 only.
enum class NextRows { kNone, kToL1, kToL2 };

// A lane's count of entries: int32 beside float lanes; beside double lanes a double (exact far
// beyond K < 2^31), so that every lane of a pass has the same width (an int32 count beside 8-double
// vectors had to be merged from two masks on every row).
template <typename A>
using lane_count_t = typename std::conditional<sizeof(A) == 8, A, int32_t>::type;

// A chunk's statistics-pass state as one array per field (structure of arrays), so the per-row
// loop runs across the C features as vector lanes; load/store move one feature's state to and
// from the header's ShrunkStats.
template <int C, typename A>
struct ChunkStats {
  using N = lane_count_t<A>;
  A sum_abs[C], sum[C], max[C], run_num[C], run_den[C];
  N count[C];

  ShrunkStats<A, N> load(int c) const {
    ShrunkStats<A, N> st;
    st.sum_abs = sum_abs[c], st.sum = sum[c], st.max = max[c], st.count = count[c];
    st.run_num = run_num[c], st.run_den = run_den[c];
    return st;
  }
  void store(int c, const ShrunkStats<A, N>& st) {
    sum_abs[c] = st.sum_abs, sum[c] = st.sum, max[c] = st.max, count[c] = st.count;
    run_num[c] = st.run_num, run_den[c] = st.run_den;
  }
};

// ||theta_j|| for the C features of a chunk (theta column c at th + c * th_col, rows th_row
// apart), as column_norm computes them: |theta_j| for one output, else the sum of squares in row
// order, its square root where finite; a lane whose squares overflow (or hold inf/NaN) redoes its
// column with column_norm's scaled sum.
template <int C, typename scalar_t, typename A>
inline void chunk_norms(const scalar_t* th, int64_t th_row, int64_t th_col, int64_t m, A* norm_v) {
  if (m == 1) {
    for_each_feature<C, A>([&](int c) { norm_v[c] = detail::abs_(static_cast<A>(th[c * th_col])); });
    return;
  }
  A ss[C];
  for_each_feature<C, A>([&](int c) { ss[c] = A(0); });
  for (int64_t k = 0; k < m; ++k) {
    const scalar_t* row = th + k * th_row;
    for_each_feature<C, A>([&](int c) {
      const A x = static_cast<A>(row[c * th_col]);
      ss[c] += x * x;
    });
  }
  int32_t overflow = 0;
  for_each_feature<C, A>([&](int c) {
    norm_v[c] = detail::sqrt_(ss[c]);
    overflow |= detail::finite_(ss[c]) ? 0 : 1;
  });
  if (overflow == 0) return;
  for (int c = 0; c < C; ++c) {
    if (!detail::finite_(ss[c])) norm_v[c] = column_norm<scalar_t, A>(th + c * th_col, th_row, m);
  }
}

// The new theta columns of a chunk for radii r, as apply_theta writes them (the header's
// theta_entry), one row at a time across the chunk's features.
template <int C, typename scalar_t, typename A>
inline void chunk_apply_theta(scalar_t* th, int64_t th_row, int64_t th_col, int64_t m,
                              const A* norm_v, const A* r, const int32_t* finite) {
  if (m == 1) {
    for_each_feature<C, A>([&](int c) {
      const FeatureRadius<A> sol{r[c], norm_v[c], finite[c] != 0};
      th[c * th_col] = static_cast<scalar_t>(theta_entry(static_cast<A>(th[c * th_col]), sol, true, A(0), A(0)));
    });
    return;
  }
  A scale[C], spread[C];
  const A root_m = detail::sqrt_(static_cast<A>(m));
  for_each_feature<C, A>([&](int c) {
    scale[c] = r[c] / norm_v[c];  // (unused where norm_v is 0)
    spread[c] = r[c] / root_m;
  });
  for (int64_t k = 0; k < m; ++k) {
    scalar_t* row = th + k * th_row;
    for_each_feature<C, A>([&](int c) {
      const FeatureRadius<A> sol{r[c], norm_v[c], finite[c] != 0};
      row[c * th_col] = static_cast<scalar_t>(theta_entry(static_cast<A>(row[c * th_col]), sol, false, scale[c], spread[c]));
    });
  }
}

// Rows up to which the search's passes track the active set's smallest entry (see solve_chunk).
constexpr int64_t kTrackMinMaxK = 32;

// One pass of the active-set search over a chunk: for each feature c, the sum, size and (with
// track_min) smallest entry of {s_i > bound[c]}, where s_i = shrink(row[c]) for the K rows
// `stride` apart (W itself, or the chunk's scratch copy of its shrunk magnitudes).
template <int C, typename A, typename T, typename N, typename Shrink>
inline void chunk_active_pass(const T* rows, int64_t stride, int64_t K, const A* bound, A* sum,
                              N* count, A* min_s, bool track_min, Shrink&& shrink) {
  for (int64_t k = 0; k < K; ++k) {
    const T* row = rows + k * stride;
    if (track_min) {
      for_each_feature<C, A>([&](int c) {
        ActiveSum<A, N> a;
        a.sum = sum[c], a.count = count[c], a.min = min_s[c];
        accumulate_shrunk(a, shrink(row[c]), bound[c]);
        sum[c] = a.sum, count[c] = a.count, min_s[c] = a.min;
      });
    } else {
      for_each_feature<C, A>([&](int c) {
        ActiveSum<A, N> a;
        a.sum = sum[c], a.count = count[c];
        accumulate_shrunk(a, shrink(row[c]), bound[c]);
        sum[c] = a.sum, count[c] = a.count;
      });
    }
  }
}

#if defined(LASSONET_SCRATCH_ROUND_AVX512)
#include "scratch_round_avx512.h"
#endif

// Whether this build's search rounds drop spent scratch rows (scratch_round).
#if defined(LASSONET_SCRATCH_ROUND_AVX512)
constexpr bool kCompactingRounds = true;
#else
constexpr bool kCompactingRounds = false;
#endif

// From this many rows on, the compacting build writes back only the rows its rounds kept (see the
// end of solve_chunk). Finished lanes then keep their rows in the rounds, which costs where many
// rows survive: K = 64 (float, 32 lanes) 2-8% slower, K = 128 6-20% faster, K = 256 and 1024
// 8-19% faster (alternating runs, d = 1e4 and 1e5).
constexpr int64_t kSparseWriteMinK = 128;

// One search round over a chunk's scratch copy (rows of C shrunk magnitudes); returns the number
// of rows the next round must read. The AVX-512 build drops the rows no lane's bound is below
// any more and lists in `rows` the chunk rows the kept ones hold (scratch_round_avx512.h); the
// other builds read every row each round.
template <int C, typename A, typename N>
inline int64_t scratch_round(A* s, int32_t* rows, bool first, int64_t K, const A* bound, A* sum,
                             N* count, A* min_s, bool track_min) {
#if defined(LASSONET_SCRATCH_ROUND_AVX512)
  return scratch_round_avx512<C>(s, rows, first, K, bound, sum, count, min_s, track_min);
#else
  (void)rows, (void)first;
  chunk_active_pass<C, A>(s, C, K, bound, sum, count, min_s, track_min, [](A x) { return x; });
  return K;
#endif
}

// One comparator of the network across a chunk's lanes (rows hi != lo of the sort's array).
template <int C, typename A>
inline void chunk_compare_exchange(A* __restrict hi, A* __restrict lo) {
  for_each_feature<C, A>([&](int c) {
    A x = hi[c], y = lo[c];
    compare_exchange(x, y);
    hi[c] = x, lo[c] = y;
  });
}

#if LASSONET_LANE_VECTORS
// Bytes of the build's vector registers (the baseline's: SSE2 on x86-64, NEON on AArch64).
#if defined(LASSONET_SCRATCH_ROUND_AVX512)
constexpr int kLaneVectorBytes = 64;
#elif defined(LASSONET_LANES_AVX2)
constexpr int kLaneVectorBytes = 32;
#else
constexpr int kLaneVectorBytes = 16;
#endif

// The vector the sorted chunks' keys sort as: Bytes / sizeof(A) lanes of A, or (kInteger, float
// keys in the AVX2 and AVX-512 builds) of int32, specialised below.
template <typename A, int Bytes, bool kInteger>
struct SortKeys {
  typedef A type __attribute__((vector_size(Bytes)));
};

// Whether every lane of a comparison's result (each lane all ones or zero) is set: one byte mask
// in the AVX2 and AVX-512 builds (GCC made a chain of shifts and ORs of the lanes).
template <typename IV>
inline bool all_lanes(const IV& mask) {
#if defined(LASSONET_SCRATCH_ROUND_AVX512)
  if constexpr (sizeof(IV) == 64) {
    __m512i x;
    std::memcpy(&x, &mask, sizeof(x));
    return _mm512_movepi8_mask(x) == ~__mmask64(0);
  }
#endif
#if defined(LASSONET_LANES_AVX2) || defined(LASSONET_SCRATCH_ROUND_AVX512)
  if constexpr (sizeof(IV) == 32) {
    __m256i x;
    std::memcpy(&x, &mask, sizeof(x));
    return _mm256_movemask_epi8(x) == -1;
  }
#endif
  bool all = true;
  for (int c = 0; c < static_cast<int>(sizeof(IV) / sizeof(mask[0])); ++c) all &= mask[c] != 0;
  return all;
}

// The header's compare_exchange on a vector of lanes: GCC compiles its selects to a compare and
// two blends; the AVX2 and AVX-512 builds use max and min instead, which are the same selects
// (max(x, y) = x > y ? x : y, min(y, x) = y < x ? y : x), bit for bit. (The maskz forms with
// every lane set compile to the plain instructions; the plain intrinsics' undefined source
// draws GCC 12's -Wmaybe-uninitialized.)
template <typename V>
inline void lanes_compare_exchange(V& hi, V& lo) {
  compare_exchange(hi, lo);
}
// The same on keys whose max and min can issue on different execution units, where that pays
// (kSplitPipeKeys): here, every other build and type, lanes_compare_exchange.
template <typename V>
inline void lanes_compare_exchange_split(V& hi, V& lo) {
  lanes_compare_exchange(hi, lo);
}
#if defined(LASSONET_LANES_AVX2) || defined(LASSONET_SCRATCH_ROUND_AVX512)  // (builds with <immintrin.h>)
// Float keys compared as int32: see solve_sorted_lanes.
constexpr bool kIntegerFloatKeys = true;
template <>
struct SortKeys<float, 32, true> {
  using type = __m256i;
};
inline void lanes_compare_exchange(__m256i& hi, __m256i& lo) {
  const __m256i x = hi, y = lo;
  hi = _mm256_max_epi32(x, y), lo = _mm256_min_epi32(y, x);
}
inline void lanes_compare_exchange(__m256& hi, __m256& lo) {
  const __m256 x = hi, y = lo;
  hi = _mm256_max_ps(x, y), lo = _mm256_min_ps(y, x);
}
inline void lanes_compare_exchange(__m256d& hi, __m256d& lo) {
  const __m256d x = hi, y = lo;
  hi = _mm256_max_pd(x, y), lo = _mm256_min_pd(y, x);
}
#else
constexpr bool kIntegerFloatKeys = false;
#endif
#if !defined(LASSONET_SCRATCH_ROUND_AVX512)
constexpr bool kSplitPipeKeys = false;
constexpr bool kSumsWhenNeeded = false;  // (see solve_chunk_sorted)
#else
constexpr bool kSumsWhenNeeded = true;
#endif
#if defined(LASSONET_SCRATCH_ROUND_AVX512)  // (the AVX-512 build)
template <>
struct SortKeys<float, 64, true> {
  using type = __m512i;
};
inline void lanes_compare_exchange(__m512i& hi, __m512i& lo) {
  const __m512i x = hi, y = lo;
  hi = _mm512_maskz_max_epi32(0xFFFF, x, y), lo = _mm512_maskz_min_epi32(0xFFFF, y, x);
}
inline void lanes_compare_exchange(__m512& hi, __m512& lo) {
  const __m512 x = hi, y = lo;
  hi = _mm512_maskz_max_ps(0xFFFF, x, y), lo = _mm512_maskz_min_ps(0xFFFF, y, x);
}
inline void lanes_compare_exchange(__m512d& hi, __m512d& lo) {
  const __m512d x = hi, y = lo;
  hi = _mm512_maskz_max_pd(0xFF, x, y), lo = _mm512_maskz_min_pd(0xFF, y, x);
}
// Double keys' max as int64 (the bits of non-negative doubles order as they do) and min as double:
// on Zen 4, 512-bit VPMAXSQ issues on the pipes of the multiplies and VMINPD on those of the
// adds, one a cycle each, so a comparator takes one cycle instead of two (measured: both as
// double, or both as int64, 1 a cycle; one of each, 2). The same bits as lanes_compare_exchange
// but in a non-finite lane (a NaN key: its outputs are NaN whatever its keys sort to).
constexpr bool kSplitPipeKeys = true;
inline void lanes_compare_exchange_split(__m512d& hi, __m512d& lo) {
  const __m512d x = hi, y = lo;
  hi = _mm512_castsi512_pd(_mm512_maskz_max_epi64(0xFF, _mm512_castpd_si512(x), _mm512_castpd_si512(y)));
  lo = _mm512_maskz_min_pd(0xFF, y, x);
}
#endif

// Lanes c0 .. c0 + W - 1 of a chunk of K <= sorted_top_max_entries<scalar_t>() rows
// (rows[k * row_stride + c]), solved in registers as W-lane GCC vectors: each block of 16 rows is loaded,
// turned into sort keys (the sums of |x| and of the keys run down the rows, in row order, as the
// lone path adds them) and goes through the header's sorted_top_16, run on vectors. Neither the
// keys nor the sums go through memory on the way: from a K x C array, every comparator stored and
// reloaded its rows (1.5x slower), and the sums' store-to-load chains bound the first pass. Writes
// the lanes' largest candidate (best_out), largest and 16th largest keys, and the sums of |x| and
// of the keys (for kSumHalves halves from c0: 2 in the first call where the keys sort as integers,
// so that two independent add chains run side by side, then 0; else 1 and 1; 0 and 0 where the
// chunk takes them only if needed, see solve_chunk_sorted). kSplitPipes: the compare-exchanges as
// lanes_compare_exchange_split; kNext: see solve_chunk_sorted. Always inlined, or out of line as
// solve_sorted_lanes_apart (solve_chunk_sorted says where).
template <int C, int W, bool kL1, int kSumHalves, bool kSplitPipes, NextRows kNext, typename scalar_t,
          typename A>
LASSONET_ALWAYS_INLINE void solve_sorted_lanes(const scalar_t* rows, int64_t row_stride, int c0, int64_t K,
                               const scalar_t* next, ProxParams<A> p, const A* reciprocal, const A* norm_v,
                               A* best_out, A* s_max, A* s16, A* sum_abs, A* sum_s) {
  typedef A V __attribute__((vector_size(W * sizeof(A))));
  typedef typename std::conditional<sizeof(A) == 8, int64_t, int32_t>::type I;
  typedef I IV __attribute__((vector_size(W * sizeof(A))));
  // The keys (never negative: |x| or max(|x| - lam_bar, 0), or NaN in a non-finite lane) sort as
  // int32 where kIntegerFloatKeys: a non-negative float's bits order as it does, and integer max
  // and min pick the same entry bit for bit (NaN, with the sign cleared above +inf, sorts first, in
  // a lane whose outputs are NaN whatever its keys). On AMD Zen 4, 512-bit int32 max/min issue two
  // a cycle with one cycle of latency (measured), float max/min one a cycle on the pipes the adds
  // need too; Intel's tables give int32 max/min one cycle of latency to float's four.
  using KV = typename SortKeys<A, W * sizeof(A), kIntegerFloatKeys && sizeof(A) == 4>::type;
  const V zero = V{} + A(0), lam_bar = V{} + (kL1 ? p.lam_bar : A(0));
  const IV magnitude = IV{} + std::numeric_limits<I>::max();  // every bit but the sign
  V abs_total[2] = {zero, zero}, key_total[2] = {zero, zero};
  // (the next chunk's row prefetched at a fixed distance from this one's: with the row's own
  // address GCC had kept 16 of each in vector registers, moved there and back one at a time)
  const std::ptrdiff_t ahead = next != nullptr ? next - rows : 0;  // (read only as kNext says)
  auto load = [&](V& x, const scalar_t* row) {
    if constexpr (std::is_same<scalar_t, A>::value) {
      std::memcpy(&x, row, sizeof(V));
    } else {
      for (int c = 0; c < W; ++c) x[c] = static_cast<A>(row[c]);
    }
    IV bits;
    std::memcpy(&bits, &x, sizeof(V));
    bits &= magnitude;
    std::memcpy(&x, &bits, sizeof(V));  // |x|, as detail::abs_ (NaN stays NaN)
  };
  auto shrunk_key = [&](V& key, const V& a) {
    const V shrunk = a - lam_bar;
    key = shrunk > zero ? shrunk : zero;  // sort_key
  };
  // (the key comes back through `key`: a returned vector wider than the build's registers draws
  // GCC's -Wpsabi note in the baseline build)
  auto load_key = [&](KV& key, int64_t k) {
    const scalar_t* row = rows + k * row_stride + c0;
    if (kNext == NextRows::kToL1 && ahead != 0) prefetch(row + ahead);
    V a;
    load(a, row);
    // Without lam_bar the key is |x| itself, and the sum of keys the sum of |x|: sort_key only
    // differs on NaN (-> 0), and a lane holding NaN is not finite, which decides its radius (0)
    // and every output (NaN) whatever its keys sort to.
    V key_a = a;
    if constexpr (kL1) shrunk_key(key_a, a);
    std::memcpy(&key, &key_a, sizeof(V));
    if constexpr (kSumHalves >= 1) {
      abs_total[0] += a;
      if constexpr (kL1) key_total[0] += key_a;
    }
    if constexpr (kSumHalves == 2) {
      V a2;
      load(a2, row + W);
      abs_total[1] += a2;
      if constexpr (kL1) {
        V key2;
        shrunk_key(key2, a2);
        key_total[1] += key2;
      }
    }
  };
  auto load_block = [&](KV* block, int64_t b) {
    // (into L2, the next chunk's rows of a block are asked for before the block is loaded: per row,
    // as into L1, float32 d = 1e5 took 1.17-1.22x the time at K = 64 and 256)
    if (kNext == NextRows::kToL2 && ahead != 0) {
      for (int64_t k = b; k < std::min<int64_t>(b + kSortedMaxEntries, K); ++k) {
        prefetch<true>(rows + k * row_stride + c0 + ahead);
      }
    }
    if (b + kSortedMaxEntries <= K) {  // a full block: no test per row
      LASSONET_UNROLL
      for (int k = 0; k < kSortedMaxEntries; ++k) load_key(block[k], b + k);
      return;
    }
    LASSONET_UNROLL
    for (int k = 0; k < kSortedMaxEntries; ++k) {
      if (b + k < K) {
        load_key(block[k], b + k);
      } else {
        block[k] = KV{};  // (zero bits: 0)
      }
    }
  };
  KV v[kSortedMaxEntries];
  sorted_top_16(v, K, load_block, [](KV& hi, KV& lo) {
    if constexpr (kSplitPipes) {
      lanes_compare_exchange_split(hi, lo);
    } else {
      lanes_compare_exchange(hi, lo);
    }
  });
  V sorted[kSortedMaxEntries];
  LASSONET_UNROLL
  for (int k = 0; k < kSortedMaxEntries; ++k) std::memcpy(&sorted[k], &v[k], sizeof(V));
  // The candidates down the sorted rows, still in registers (through memory, each step stored and
  // reloaded its lanes' prefix sums and radii: 512-bit stores take two cycles on Zen 4), as
  // sorted_candidate_step on vectors; the candidates past the 8th only where some lane's first
  // ones are not certified (sorted_prefix_certified on the lanes).
  V nv, best;
  std::memcpy(&nv, norm_v + c0, sizeof(V));
  const V base = nv - p.lam, M = V{} + p.M;
  V prefix = zero;
  best = base;
  const int64_t n_sorted = std::min<int64_t>(K, kSortedMaxEntries);
  auto candidates = [&](int k0, int k1) {
    LASSONET_UNROLL
    for (int k = k0; k < k1; ++k) {
      if (k < n_sorted) sorted_candidate_step(prefix, best, sorted[k], base, M, V{} + reciprocal[k + 1]);
    }
  };
  candidates(0, kCertifiedCandidates);
  if (n_sorted > kCertifiedCandidates) {
    const IV certified = sorted_prefix_certified(base, M, sorted[0], best, sorted[kCertifiedCandidates]);
    if (!all_lanes(certified)) {
      const V best_first = best;
      candidates(kCertifiedCandidates, kSortedMaxEntries);
      best = certified != 0 ? best_first : best;
    }
  }
  std::memcpy(best_out + c0, &best, sizeof(V));
  std::memcpy(s_max + c0, &sorted[0], sizeof(V));
  std::memcpy(s16 + c0, &sorted[kSortedMaxEntries - 1], sizeof(V));
  for (int h = 0; h < kSumHalves; ++h) {
    std::memcpy(sum_abs + c0 + h * W, &abs_total[h], sizeof(V));
    std::memcpy(sum_s + c0 + h * W, kL1 ? &key_total[h] : &abs_total[h], sizeof(V));
  }
}

// solve_sorted_lanes in a function of its own. kHalf: which of a chunk's calls this is, so that
// GCC's identical-code folding does not merge the two.
template <int C, int W, bool kL1, int kSumHalves, bool kSplitPipes, NextRows kNext, int kHalf,
          typename... Args>
LASSONET_NOINLINE void solve_sorted_lanes_apart(Args... args) {
  solve_sorted_lanes<C, W, kL1, kSumHalves, kSplitPipes, kNext>(args...);
}
#endif

#if defined(LASSONET_SCRATCH_ROUND_AVX512)  // (the AVX-512 build)
// W's new entries without lam_bar, one row of a chunk's C lanes at a time: VRANGEPS / VRANGEPD
// with imm 0x2 (the operand of smaller magnitude, with the first operand's sign) is
// copysign(min(|x|, bound), x) in one instruction, bit for bit for every bound >= 0, zeros and
// infinities included (checked against that scalar form on special values and a million random
// pairs). For a NaN bound it returns x, so in a chunk with a non-finite lane that lane's entries
// take copysign(NaN, x) by mask, the scalar form's NaN to the bit. (GCC made three vector
// instructions of the scalar form.)
template <typename A, int C>
struct RangeClip {
  using L = Avx512Lanes<A>;  // (scratch_round_avx512.h)
  static constexpr int kVectors = C / L::kWidth;
  static_assert(C % L::kWidth == 0, "whole vectors");
  typename L::V bound[kVectors];
  typename L::Mask finite[kVectors];
  bool all_finite;
  void set(const A* b, const int32_t* fin) {
    all_finite = true;
    for (int g = 0; g < kVectors; ++g) {
      bound[g] = L::load(b + g * L::kWidth);
      finite[g] = L::nonzero(fin + g * L::kWidth);
      all_finite &= finite[g] == static_cast<typename L::Mask>(~0u);
    }
  }
  // Whether some lane's largest magnitude s_max is not within its bound (NaN included): else no
  // entry changes. (One mask test: the across-lanes OR GCC made of the scalar form was a chain of
  // ten shuffles and ORs.)
  bool any_above(const A* s_max) const {
    typename L::Mask any = 0;
    for (int g = 0; g < kVectors; ++g) any |= L::not_le(L::load(s_max + g * L::kWidth), bound[g]);
    return any != 0;
  }
  void operator()(A* row) const {
    for (int g = 0; g < kVectors; ++g) {
      const typename L::V x = L::load(row + g * L::kWidth);
      if (all_finite) {
        L::store(row + g * L::kWidth, L::clip(x, bound[g]));
      } else {
        L::store(row + g * L::kWidth, L::clip_where(L::nan_with_sign_of(x), finite[g], x, bound[g]));
      }
    }
  }
};
constexpr bool kRangeClip = true;
#else
template <typename A, int C>
struct RangeClip {
  void set(const A*, const int32_t*) {}
  bool any_above(const A*) const { return true; }
  void operator()(A*) const {}
};
constexpr bool kRangeClip = false;
#endif

// How a solved chunk changes W, from its lanes' radii r, theta norms, finite flags and largest
// shrunk magnitudes s_max: every entry of lane c becomes clipped_entry(x, bound[c], lam_bar).
// chunk_write_back sets one up and writes the chunk's rows with it, or leaves it to
// solve_features_in_chunks, which then writes a block of chunks row by row (rows_crowd_l1_sets).
template <int C, bool kL1, typename scalar_t, typename A>
struct ChunkClip {
  static constexpr bool kRange = kRangeClip && !kL1 && std::is_same<scalar_t, A>::value;
  A bound[C];
  A lam_bar;
  RangeClip<A, C> range;
  bool changes;    // whether any entry may change (else the chunk's cache lines are left clean)
  bool every_row;  // whether every row changes: some lane died with nonzero entries or is not finite

  void set(ProxParams<A> p, const A* norm_v, const A* r, const int32_t* finite, const A* s_max) {
    const A lb = kL1 ? p.lam_bar : A(0);
    int32_t may_change = 0, all_rows = 0;
    for_each_feature<C, A>([&](int c) {
      bound[c] = clip_bound(FeatureRadius<A>{r[c], norm_v[c], finite[c] != 0}, p);
      // With lam_bar = 0, entries already within the bound stay as they are.
      if (!kRange) may_change |= (lb == A(0) && s_max[c] <= bound[c]) ? 0 : 1;
      all_rows |= (finite[c] == 0) | ((r[c] == A(0)) & (s_max[c] > A(0)));
    });
    lam_bar = lb;
    range.set(bound, finite);
    changes = kRange ? range.any_above(s_max) : may_change != 0;
    every_row = all_rows != 0;
  }

  void write_row(scalar_t* row) const {
    if constexpr (kRange) return range(reinterpret_cast<A*>(row));
    for_each_feature<C, A>([&](int c) {
      const A x = static_cast<A>(row[c]);
      if constexpr (kL1) {
        bool changed = false;
        row[c] = static_cast<scalar_t>(clipped_entry(x, bound[c], lam_bar, changed));
      } else {
        // clipped_entry without lam_bar: its clamp of |x| at 0 only turns NaN into 0, and a lane
        // holding NaN is not finite, so its bound is NaN and either way the entry becomes NaN.
        const A a = detail::abs_(x);
        row[c] = static_cast<scalar_t>(detail::copysign_(a < bound[c] ? a : bound[c], x));
      }
    });
  }
};

// Writes a solved chunk back: theta's columns, then W's rows, all of them, or where `kept` is not
// null only the n_kept rows it lists (solve_chunk's row-list write). With `deferred`, W's rows
// are left to the caller, who gets the chunk's ChunkClip there.
template <int C, bool kL1, typename scalar_t, typename A>
inline void chunk_write_back(scalar_t* rows, int64_t row_stride, int64_t K, scalar_t* th, int64_t th_row,
                             int64_t th_col, int64_t m, ProxParams<A> p, const A* norm_v, const A* r,
                             const int32_t* finite, const A* s_max, const int32_t* kept, int64_t n_kept,
                             ChunkClip<C, kL1, scalar_t, A>* deferred) {
  chunk_apply_theta<C, scalar_t, A>(th, th_row, th_col, m, norm_v, r, finite);
  if (deferred != nullptr) return deferred->set(p, norm_v, r, finite, s_max);
  ChunkClip<C, kL1, scalar_t, A> clip;
  clip.set(p, norm_v, r, finite, s_max);
  if (!clip.changes) return;
  // With lam_bar = 0 an entry changes only if |x| exceeds its lane's final bound M r, and the last
  // compacting round kept every row holding such an entry (its bounds were at most the final ones;
  // finished lanes kept theirs): the other rows stay as they are, and their cache lines clean.
  // Not where a lane died with nonzero entries or is not finite (every row of it changes).
  if (kept != nullptr && !clip.every_row) {
    for (int64_t i = 0; i < n_kept; ++i) clip.write_row(rows + kept[i] * row_stride);
    return;
  }
  for (int64_t k = 0; k < K; ++k) clip.write_row(rows + k * row_stride);
}

// Solves C adjacent features whose W entries are rows[k * row_stride + c] (unit stride across
// features) and whose theta columns start at th + c * th_col. Every pass is a walk down the rows
// with an inner loop over the C features in registers (vectorised), and the per-feature steps
// between passes (norms, the search's start, theta's update) run across the features too, without
// branches: at small K they cost more than the passes, and data-dependent branches (does the
// feature die? is any entry clipped?) mispredict. Each lane computes what hier_prox_feature
// computes for its feature, operation for operation. `next` is the next chunk's first row,
// prefetched during the first pass (rows lie on different pages once K is large, which the
// hardware prefetcher does not follow). `scratch`, where not null, holds K * C values: the first
// pass stores the shrunk magnitudes there and the search rounds read them (see scratch_min_k);
// `kept` (K values, with scratch in the compacting build) lists the rows the rounds kept.
// With kWriteBack = false nothing is written: the radii go to r_out (the sorted chunks' fallback).
// (Out of line: inlined into solve_features_in_chunks' loop over chunks it took 1.12-1.16x the
// time, float64 K = 128 and 256, AVX-512, GCC 12.)
template <int C, bool kL1, typename scalar_t, typename A, bool kWriteBack = true>
LASSONET_NOINLINE void solve_chunk(scalar_t* rows, int64_t row_stride, int64_t K, scalar_t* th,
                                   int64_t th_row, int64_t th_col, int64_t m, ProxParams<A> p,
                                   const scalar_t* next, A* scratch, int32_t* kept, A* r_out = nullptr) {
  // kL1 = false (lam_bar = 0): lam_bar is the constant 0 here, so the compiler drops the
  // subtractions (x - 0 is x, bit for bit, NaN and -0 included).
  const A lam_bar = kL1 ? p.lam_bar : A(0);
  A norm_v[C];
  chunk_norms<C, scalar_t, A>(th, th_row, th_col, m, norm_v);
  ChunkStats<C, A> stats;
  using N = lane_count_t<A>;
  for_each_feature<C, A>([&](int c) { stats.store(c, start_stats<A, N>(norm_v[c] - p.lam)); });
  for (int64_t k = 0; k < K; ++k) {
    const scalar_t* row = rows + k * row_stride;
    if (next != nullptr) prefetch(next + k * row_stride);
    for_each_feature<C, A>([&](int c) {
      ShrunkStats<A, N> st = stats.load(c);
      accumulate_stats(st, static_cast<A>(row[c]), lam_bar, p.M);
      stats.store(c, st);
    });
    if (scratch != nullptr) {
      A* s = scratch + k * C;
      for_each_feature<C, A>([&](int c) { s[c] = shrunk_magnitude(static_cast<A>(row[c]), lam_bar); });
    }
  }
  // The search's start for every feature: the header's start_search, run across the lanes.
  A r[C], base[C], bound[C], sum[C];
  int32_t last[C], done[C], finite[C];
  N count[C];
  int32_t open = 0;
  for_each_feature<C, A>([&](int c) {
    ShrunkStats<A, N> st = stats.load(c);
    finish_stats(st);
    const RadiusSearch<A> q = start_search(norm_v[c], st, p);
    r[c] = q.sol.r, base[c] = q.base, finite[c] = q.sol.finite ? 1 : 0;
    done[c] = q.done, last[c] = q.count;
    open |= done[c] ^ 1;
  });
  // Active-set rounds over the whole chunk until every feature is done (finished ones get an
  // infinite bound; their steps change nothing). The steps run as one vector loop too. Up to
  // kTrackMinMaxK rows the passes also track the set's smallest entry (ActiveSum::min), which
  // spares the confirming round; with more rows it made each round about 1.5x slower (measured,
  // K >= 64), so there it is passed as -inf ("unknown"). Either way r is the same.
  constexpr A inf = std::numeric_limits<A>::infinity();
  const bool track_min = K <= kTrackMinMaxK;
  A min_s[C];
  int64_t scratch_rows = K;
  int32_t rounds = 0;
  // (lam_bar > 0 changes every nonzero entry: no row-list write, and finished lanes drop their rows)
  const bool sparse_write =
      kCompactingRounds && scratch != nullptr && K >= kSparseWriteMinK && p.lam_bar == A(0);
  while (open != 0) {
    // A finished lane's step ignores its sums, so its bound only decides which rows a compacting
    // round keeps: +inf, or for a sparse write its final M r (its W entries above that are the ones
    // the write clips; +inf still where r = 0 or the lane is not finite: every row is written then).
    for_each_feature<C, A>([&](int c) {
      const bool keeps = sparse_write && done[c] != 0 && finite[c] != 0 && r[c] > A(0);
      bound[c] = done[c] != 0 && !keeps ? inf : p.M * r[c];
      sum[c] = A(0), count[c] = 0, min_s[c] = track_min ? inf : -inf;
    });
    if (scratch != nullptr) {
      scratch_rows = scratch_round<C>(scratch, sparse_write ? kept : nullptr, rounds == 0,
                                      scratch_rows, bound, sum, count, min_s, track_min);
    } else {
      chunk_active_pass<C, A>(rows, row_stride, K, bound, sum, count, min_s, track_min,
                              [&](scalar_t x) { return shrunk_magnitude(static_cast<A>(x), lam_bar); });
    }
    ++rounds;
    open = 0;
    for_each_feature<C, A>([&](int c) {
      search_step(r[c], last[c], done[c], base[c], p.M, sum[c], static_cast<int32_t>(count[c]), min_s[c]);
      open |= done[c] ^ 1;
    });
  }
  if constexpr (kWriteBack) {
    chunk_write_back<C, kL1>(rows, row_stride, K, th, th_row, th_col, m, p, norm_v, r, finite, stats.max,
                             sparse_write && rounds > 0 ? kept : nullptr, scratch_rows,
                             static_cast<ChunkClip<C, kL1, scalar_t, A>*>(nullptr));
  } else {
    for_each_feature<C, A>([&](int c) { r_out[c] = r[c]; });
  }
}

// The sums of |x| down the K rows of a chunk, in row order (as the lone path adds them).
template <int C, typename scalar_t, typename A>
inline void chunk_abs_sums(const scalar_t* rows, int64_t row_stride, int64_t K, A* sum_abs) {
  for_each_feature<C, A>([&](int c) { sum_abs[c] = A(0); });
  for (int64_t k = 0; k < K; ++k) {
    const scalar_t* row = rows + k * row_stride;
    for_each_feature<C, A>([&](int c) { sum_abs[c] += detail::abs_(static_cast<A>(row[c])); });
  }
}

// Solves C adjacent features with K <= sorted_top_max_entries<scalar_t>() as solve_entries does,
// lane by lane: sorting networks order each lane's shrunk magnitudes, one vector per row (the 16
// largest beyond 16 rows: solve_sorted_lanes), and the candidates run down the sorted rows. Where some
// lane's sorted radius is not certainly exact (sorted_radius_exact), the chunk's search
// (solve_chunk without its write-back) gives those lanes theirs. `reciprocal` holds
// candidate_reciprocal(M, m) for m = 0 .. min(K, 16); `next` as in solve_chunk, its rows prefetched
// as kNext says (sorted_next_rows: a template parameter, as a runtime choice made the AVX2 build's
// K <= 16 chunks 5-6% slower, and a runtime null `next` did not give kNone's gain). With
// `deferred`, W's rows are left to the caller (solve_features_in_chunks' blocks). (A runtime
// pointer: float32 K = 8 and 16 took 1-2% longer in the AVX-512 build than before, the AVX2 build
// and float64 the same. As a template parameter GCC inlined solve_sorted_lanes elsewhere than
// before (AVX2 float32 K = 8 and 16 1.05-1.15x slower); with the caller writing every chunk's
// rows, 1.08-1.16x slower.)
template <int C, bool kL1, NextRows kNext, typename scalar_t, typename A>
void solve_chunk_sorted(scalar_t* rows, int64_t row_stride, int64_t K, scalar_t* th, int64_t th_row,
                        int64_t th_col, int64_t m, ProxParams<A> p, const A* reciprocal,
                        const scalar_t* next, ChunkClip<C, kL1, scalar_t, A>* deferred) {
  A norm_v[C];
  chunk_norms<C, scalar_t, A>(th, th_row, th_col, m, norm_v);
  A sum_abs[C], sum_s[C], best[C], s_max[C], s16[C];
  bool have_sums = true;  // (false: the lanes left them to the end, see below)
#if LASSONET_LANE_VECTORS
  constexpr int first_sums = kIntegerFloatKeys && sizeof(A) == 4 ? 2 : 1;
  if constexpr (first_sums == 2 || kLaneVectorBytes >= C / 2 * static_cast<int>(sizeof(A))) {
    constexpr int W = C / 2;
    auto halves = [&](auto split) {
      constexpr bool kSplit = decltype(split)::value;
      // Without lam_bar, where the keys' maxima are taken as integers (float keys; double keys with
      // kSplit), a lane's largest key is its largest |x|, NaN and inf included: the sums can wait.
      // (The AVX2 build keeps them: without them GCC kept the candidates' maxima on the stack
      // there, and float32 K = 4 to 16 took 1.07-1.33x the time.)
      constexpr bool kLazy = kSumsWhenNeeded && !kL1 && (sizeof(A) == 4 || kSplit);
      have_sums = !kLazy;
      constexpr int kSums0 = kLazy ? 0 : first_sums, kSums1 = kLazy ? 0 : 2 - first_sums;
      // Float lanes inlined, double lanes apart, as GCC had chosen before the sums could wait; then
      // it chose otherwise by K (float32 K = 4 1.13-1.15x the time; double lanes inlined too,
      // float64 K = 4 to 64 1.06-1.07x).
      if constexpr (sizeof(A) == 4) {
        solve_sorted_lanes<C, W, kL1, kSums0, kSplit, kNext>(rows, row_stride, 0, K, next, p, reciprocal,
                                                              norm_v, best, s_max, s16, sum_abs, sum_s);
        solve_sorted_lanes<C, W, kL1, kSums1, kSplit, kNext>(rows, row_stride, W, K, next, p, reciprocal,
                                                              norm_v, best, s_max, s16, sum_abs, sum_s);
      } else {
        solve_sorted_lanes_apart<C, W, kL1, kSums0, kSplit, kNext, 0>(rows, row_stride, 0, K, next, p,
                                                                       reciprocal, norm_v, best, s_max, s16,
                                                                       sum_abs, sum_s);
        solve_sorted_lanes_apart<C, W, kL1, kSums1, kSplit, kNext, 1>(rows, row_stride, W, K, next, p,
                                                                       reciprocal, norm_v, best, s_max, s16,
                                                                       sum_abs, sum_s);
      }
    };
    // (up to 8 rows the split made double 2-4% slower: a short network is latency-bound, and
    // every comparator's values would cross between the integer and float units)
    constexpr bool kMaySplit = kSplitPipeKeys && sizeof(A) == 8;
    if (kMaySplit && K > 8) {
      halves(std::integral_constant<bool, kMaySplit>{});
    } else {
      halves(std::false_type{});
    }
  } else {  // (the baseline build: lane vectors of one 16-byte register, not two)
    // (out of line: the baseline op took 0.95-1.01x the time of GCC's own choice, K = 8 to 64)
    constexpr int W = kLaneVectorBytes / static_cast<int>(sizeof(A));
    for (int c0 = 0; c0 < C; c0 += W) {
      solve_sorted_lanes_apart<C, W, kL1, 1, false, kNext, 0>(rows, row_stride, c0, K, next, p, reciprocal,
                                                               norm_v, best, s_max, s16, sum_abs, sum_s);
    }
  }
#else
  // The same on a K x C array of keys: the first 16 rows are the top list, each later block is
  // sorted in place and merged into them (sorted_top_16's steps with row indices: given pointers
  // to the rows instead, GCC made this path 1.2-1.5x slower).
  const A lam_bar = kL1 ? p.lam_bar : A(0);
  A s[sorted_top_max_entries<A>()][C];
  for_each_feature<C, A>([&](int c) { sum_abs[c] = A(0), sum_s[c] = A(0); });
  for (int64_t k = 0; k < K; ++k) {
    const scalar_t* row = rows + k * row_stride;
    if (kNext != NextRows::kNone && next != nullptr) {
      prefetch<kNext == NextRows::kToL2>(next + k * row_stride);
    }
    for_each_feature<C, A>([&](int c) {
      const A x = static_cast<A>(row[c]);
      sum_abs[c] += detail::abs_(x);
      s[k][c] = sort_key(x, lam_bar);
      sum_s[c] += s[k][c];
    });
  }
  // (at least 16 rows: s16 reads the 16th)
  for (int64_t k = K; k < std::max<int64_t>(sorted_rows(K), kSortedMaxEntries); ++k) {
    for_each_feature<C, A>([&](int c) { s[k][c] = A(0); });
  }
  auto cx = [&](int i, int j) { chunk_compare_exchange<C>(s[i], s[j]); };
  sorting_network(K, cx);
  for (int64_t b = kSortedMaxEntries; b < K; b += kSortedMaxEntries) {
    sorting_network_16([&](int i, int j) { cx(b + i, b + j); });
    for (int k = 0; k < kSortedMaxEntries; ++k) cx(k, b + kSortedMaxEntries - 1 - k);
    bitonic_network_16(cx);
  }
  // The candidates down the sorted rows, across all C lanes at once (independent chains: the
  // prefix sums are a chain of dependent adds per lane vector).
  A base[C], prefix[C];
  for_each_feature<C, A>([&](int c) {
    base[c] = norm_v[c] - p.lam;
    prefix[c] = A(0), best[c] = base[c], s_max[c] = s[0][c], s16[c] = s[kSortedMaxEntries - 1][c];
  });
  auto candidates = [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) {
      const A* row = s[k];
      const A rk = reciprocal[k + 1];
      for_each_feature<C, A>([&](int c) {
        A sum = prefix[c], b = best[c];
        sorted_candidate_step(sum, b, row[c], base[c], p.M, rk);
        prefix[c] = sum, best[c] = b;
      });
    }
  };
  const int64_t n_sorted = std::min<int64_t>(K, kSortedMaxEntries);
  candidates(0, std::min<int64_t>(n_sorted, kCertifiedCandidates));
  if (n_sorted > kCertifiedCandidates) {  // the rest only where some lane needs them
    A best_first[C];
    int32_t certified[C], uncertain = 0;
    for_each_feature<C, A>([&](int c) {
      best_first[c] = best[c];
      certified[c] = sorted_prefix_certified(base[c], p.M, s_max[c], best[c], s[kCertifiedCandidates][c]) ? 1 : 0;
      uncertain |= certified[c] ^ 1;
    });
    if (uncertain != 0) {
      candidates(kCertifiedCandidates, n_sorted);
      for_each_feature<C, A>([&](int c) { best[c] = certified[c] != 0 ? best_first[c] : best[c]; });
    }
  }
#endif
  // Sums left to the end (have_sums false) are taken, in another pass over the rows, only where a
  // lane needs them: they decide whether a feature is finite, and beyond 16 entries, whether it
  // dies, and nothing else. A lane's sum of |x| is finite wherever s_max * 2K is (each partial sum
  // is below K s_max (1 + 2^-24)^K: no overflow), which NaN and inf fail. The chunks took
  // 0.91-0.96x the time at float32 K = 8 to 256, float64 0.94-0.96x at K = 16 to 64 (one thread,
  // AVX-512, alternating; float64 K <= 8, without kSplit, keeps its sums).
  auto sums = [&] {  // (without lam_bar: sum_s is sum_abs)
    chunk_abs_sums<C, scalar_t, A>(rows, row_stride, K, sum_abs);
    for_each_feature<C, A>([&](int c) { sum_s[c] = sum_abs[c]; });
    have_sums = true;
  };
  if (!have_sums) {
    const A two_k = static_cast<A>(2 * K), most = std::numeric_limits<A>::max();
    int32_t may_overflow = 0;
    for_each_feature<C, A>([&](int c) {
      sum_abs[c] = A(0);  // (a finite stand-in: finite_feature reads only whether it is finite)
      may_overflow |= s_max[c] * two_k < most ? 0 : 1;
    });
    if (may_overflow != 0) sums();
  }
  A r[C];
  int32_t finite[C], exact[C], inexact = 0;
  for_each_feature<C, A>([&](int c) {
    const bool fin = finite_feature(norm_v[c], sum_abs[c]);
    r[c] = sorted_radius(norm_v[c], fin, s_max[c], best[c], p);
    finite[c] = fin ? 1 : 0;
  });
  if (K > kSortedMaxEntries && !have_sums) {
    // sorted_radius_exact's tests but the sum's; a lane left undecided dies only if base + M sum_s
    // <= 0, which base + M s_max > 0 rules out (sum_s >= s_max, rounding being monotone), so only
    // the lanes that may die need the sums.
    int32_t need = 0;
    for_each_feature<C, A>([&](int c) {
      const A base = norm_v[c] - p.lam;
      exact[c] = (finite[c] == 0) | (s16[c] <= p.M * r[c]) | (p.M == A(0)) ? 1 : 0;
      need |= (exact[c] == 0) & !(base + p.M * s_max[c] > A(0)) ? 1 : 0;
      inexact |= exact[c] ^ 1;
    });
    if (need != 0) {
      sums();
      inexact = 0;
    }
  }
  if (K > kSortedMaxEntries && have_sums) {  // (up to 16 entries every sorted radius is exact)
    for_each_feature<C, A>([&](int c) {
      const A base = norm_v[c] - p.lam;
      exact[c] = sorted_radius_exact(K, finite[c] != 0, r[c], s16[c], base, sum_s[c], p) ? 1 : 0;
      inexact |= exact[c] ^ 1;
    });
  }
  if (inexact != 0) {  // (more than 16 entries may be active) the search's radii, for those lanes
    A r_q[C];
    solve_chunk<C, kL1, scalar_t, A, false>(rows, row_stride, K, th, th_row, th_col, m, p, nullptr, nullptr,
                                            nullptr, r_q);
    for_each_feature<C, A>([&](int c) { r[c] = exact[c] != 0 ? r[c] : r_q[c]; });
  }
  chunk_write_back<C, kL1>(rows, row_stride, K, th, th_row, th_col, m, p, norm_v, r, finite, s_max, nullptr, 0,
                           deferred);
}

// From how large a W on the sorted chunks prefetch the next chunk's rows into L2 only, not L1. A W
// that large comes mostly from DRAM (twice it, with the copy it is restored from in the benchmark,
// exceeds the 32 MB L3 of the Zen 4 this was measured on), and an L1 prefetch holds one of L1's
// few miss buffers for a DRAM access; from L3 or L2, L1 prefetches are faster. Prefetched to L2,
// against L1 (one thread): float32 K = 64 d = 1e4 / 2e4 / 5e4 (2.6 / 5.1 / 12.8 MB) 1.03-1.04x
// the time, d = 1e5 (25.6 MB) 0.67-0.72x; K = 256 d = 2e4 (20 MB) 0.84x; float64 K = 64 d = 1e5
// 0.55x. (The search's passes, which read a chunk again and again, measured 1.0-1.14x slower with
// L2 prefetches at K = 256 and 1024, d = 1e4 and 1e5.)
constexpr int64_t kSortedPrefetchToL2MinBytes = int64_t(16) << 20;

// Where the sorted chunks ask for the next chunk's rows, for K rows of a W of w_bytes: into L2
// from kSortedPrefetchToL2MinBytes on; not at all for 9 to 32 rows of a W under 8 MB, where the
// hardware's prefetchers keep up (the loads of a block of 16 rows are unrolled, each at its own
// address, one chunk's width further on in the next chunk) and the prefetches' instructions cost
// more than they save (one thread, against L1 prefetches, alternating: AVX-512 float32 d = 1e4
// K = 16 / 24 / 32 0.99 / 0.92 / 0.93x the time, float64 0.94 / 0.90 / 0.92x, d = 3e4 0.93-0.99x;
// AVX2 float32 K = 24 / 32 0.90 / 0.89x, float64 K = 32 0.94x, K = 16 the same). Elsewhere into L1:
// from DRAM they are needed (no prefetch: float32 d = 1e5 K = 32, 12.8 MB, 1.22x the time; float64
// 25.6 MB 1.18x), mostly at K = 48 and 64 too (without: float32 1.03 / 1.05x, float64 0.98 /
// 1.02x), and at K <= 8 without them the builds measured 0.95-1.06x, no gain.
inline NextRows sorted_next_rows(int64_t K, int64_t w_bytes) {
  if (w_bytes >= kSortedPrefetchToL2MinBytes) return NextRows::kToL2;
  return K > 8 && K <= 32 && w_bytes < (int64_t(8) << 20) ? NextRows::kNone : NextRows::kToL1;
}

// From this many rows on, a chunk's search rounds read a contiguous scratch copy of its shrunk
// magnitudes (written during the statistics pass: K * C values, at most a few hundred KB) instead of
// W: W's rows are d apart, so once they are a page apart every row of a chunk sits on its own page
// and each round's walk misses the TLB row after row; the copy is read sequentially, and its
// values need no abs or subtraction. Measured (1 and 2 threads, alternating in one process, ns
// per entry): float64 d = 1e4, K = 1024 4.1 -> 3.1 (1 thread), 2.9 -> 2.1 (2); float32 1.34 ->
// 1.14; with double accumulation 4-8% faster at every K tried (8 to 1024, d = 250 to 1e5), with
// float from K = 32 on (below, 2-4% slower: the copy costs more than the rounds save).
// The AVX-512 build, whose passes drop spent rows, gains from the copy for float below K = 32 too
// (K = 8 to 24: 3-8% faster; alternating).
template <typename A>
constexpr int64_t scratch_min_k() {
  return sizeof(A) >= 8 || kCompactingRounds ? 1 : 32;
}

// From how many left-over features (fewer than a chunk's C) on they are solved as one more chunk,
// zero-padded, rather than one by one: a lone feature (a strided column, no vector lanes) cost as
// much as 12 (K = 1024) to 33 (K = 16) lanes of a chunk (shares of perf samples of one run, float32,
// d = 9999 and 10000, K = 16 to 1024; at d = 1e4 and K = 16 the 16 left over took 5% of the time).
template <int C>
constexpr int64_t tail_chunk_min_features() {
  return (C + 7) / 8;
}

// Whether the rows of a chunk crowd a few sets of L1, which are picked by address bits 6 to 11
// (64 sets of 64-byte lines, 8 or more ways, on AMD Zen 4 and on Intel cores): rows whose stride
// is a multiple of 4 KB (float32 d = 1024, 2048, 3072, ...) all fall on the same sets, rows an odd
// multiple of 2 KB apart on two. There, once more than 8 rows share a set, each store of a sorted
// chunk's write-back missed L1 (the store before had evicted its line) and waited for the line,
// one store after the other: float32 d = 4096 (one thread, AVX-512, Zen 4) took 2-2.9x the time
// per feature of d = 4128 at K = 16 to 256 (1.4-1.5x with the rows of a block of chunks written
// together: see solve_features_in_chunks). Rows spread over 4 or more sets gained nothing from it
// (blocked, d = 2304: 0.99-1.13x the time at K = 16 to 256; d = 2080 to 2176: 1.05-1.15x).
template <typename scalar_t>
inline bool rows_crowd_l1_sets(int64_t w_row, int64_t K) {
  const int64_t offset = static_cast<int64_t>(static_cast<uint64_t>(w_row) * sizeof(scalar_t) % 4096);
  const int64_t spread = 4096 / std::gcd(offset == 0 ? int64_t(4096) : offset, int64_t(4096));
  return spread <= 2 && K > 8 * spread;  // (rows k and k + spread fall on the same sets)
}

// Chunks per block where rows_crowd_l1_sets: 4 to 16 measured the same (float32 d = 4096).
constexpr int kBlockChunks = 8;

template <typename T>
struct TypeTag {
  using type = T;
};

// Features j0 .. j1 - 1 of `job` in chunks of C adjacent features, each prefetching the next, then
// the few left over: as one more chunk on a zero-padded copy (tail_chunk_min_features), else one by
// one. Both paths sum in index order with the same per-entry math, so a feature's result does not
// depend on which path it took, nor therefore on how the features were split between threads or
// on the chunk width.
template <int C, typename scalar_t>
void solve_features_in_chunks(const ChunkJob<scalar_t>& job, int64_t j0, int64_t j1) {
  using A = acc_t<scalar_t>;
  const ProxParams<A> p = make_params<A>(job.lam, job.M, job.lam_bar);
  constexpr int64_t sorted_max = sorted_top_max_entries<scalar_t>();
  const int64_t chunks_end = j0 + (j1 - j0) / C * C;
  const int64_t n_tail = j1 - chunks_end;
  const bool tail_chunk = n_tail >= tail_chunk_min_features<C>();
  std::unique_ptr<A[]> scratch;
  std::unique_ptr<int32_t[]> kept;
  if ((chunks_end > j0 || tail_chunk) && job.K > sorted_max && job.K >= scratch_min_k<A>()) {
    scratch.reset(new A[job.K * C]);
    if (kCompactingRounds) kept.reset(new int32_t[job.K]);
  }
  // solve(w, w_row, th, th_row, th_col, next, deferred) for each chunk: the chunks of adjacent
  // features, then (tail_chunk) the features left over, as a chunk of a zero-padded copy of their
  // columns (the zero lanes die and are not copied back). Where the rows of a sorted chunk crowd a
  // few L1 sets (rows_crowd_l1_sets), the chunks go in blocks of kBlockChunks whose W rows are
  // written after the block is solved, each row across the block, so that consecutive stores fall
  // on different sets. (Not the search's chunks: from 128 rows on they write only the rows their
  // rounds kept, and blocked they measured 1.06-1.2x slower, float64 K = 256 and 1024, d = 2048.)
  // `tag` holds the sorted solver's ChunkClip type (void: the search's, never blocked; compiled
  // for the search too, the block loop drew GCC's -Wmaybe-uninitialized for clips it never sets).
  const bool blocked = job.K <= sorted_max && rows_crowd_l1_sets<scalar_t>(job.w_row, job.K);
  auto for_each_chunk = [&](auto tag, auto&& solve) {
    using Clip = typename decltype(tag)::type;
    bool solved = false;
    if constexpr (!std::is_void<Clip>::value) {
      if (blocked) {
        Clip clips[kBlockChunks];
        for (int64_t j = j0; j < chunks_end; j += kBlockChunks * C) {
          const int n = static_cast<int>(std::min<int64_t>(kBlockChunks, (chunks_end - j) / C));
          for (int g = 0; g < n; ++g) {
            const int64_t jg = j + g * C;
            const scalar_t* next = jg + C < chunks_end ? job.w + jg + C : nullptr;
            solve(job.w + jg, job.w_row, job.th + jg * job.th_col, job.th_row, job.th_col, next, &clips[g]);
          }
          for (int64_t k = 0; k < job.K; ++k) {
            scalar_t* row = job.w + j + k * job.w_row;
            for (int g = 0; g < n; ++g) {
              if (clips[g].changes) clips[g].write_row(row + g * C);
            }
          }
        }
        solved = true;
      }
    }
    for (int64_t j = j0; j < chunks_end && !solved; j += C) {
      const scalar_t* next = j + C < chunks_end ? job.w + j + C : nullptr;
      solve(job.w + j, job.w_row, job.th + j * job.th_col, job.th_row, job.th_col, next,
            static_cast<Clip*>(nullptr));
    }
    if (!tail_chunk) return;
    const int64_t K = job.K, m = job.m;
    std::unique_ptr<scalar_t[]> copy(new scalar_t[(K + m) * C]());
    scalar_t* w = copy.get();
    scalar_t* th = w + K * C;
    auto columns = [&](bool in) {
      for (int64_t k = 0; k < K; ++k) {
        for (int64_t c = 0; c < n_tail; ++c) {
          scalar_t& x = job.w[k * job.w_row + chunks_end + c];
          in ? (void)(w[k * C + c] = x) : (void)(x = w[k * C + c]);
        }
      }
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t c = 0; c < n_tail; ++c) {
          scalar_t& x = job.th[(chunks_end + c) * job.th_col + i * job.th_row];
          in ? (void)(th[i * C + c] = x) : (void)(x = th[i * C + c]);
        }
      }
    };
    columns(true);
    solve(w, int64_t(C), th, int64_t(C), int64_t(1), static_cast<const scalar_t*>(nullptr),
          static_cast<Clip*>(nullptr));
    columns(false);
  };
  auto sorted_chunks = [&](auto l1, auto next_rows) {
    A reciprocal[kSortedMaxEntries + 1];
    for (int64_t k = 0; k <= std::min<int64_t>(job.K, kSortedMaxEntries); ++k) {
      reciprocal[k] = candidate_reciprocal(p.M, k);
    }
    using Clip = ChunkClip<C, decltype(l1)::value, scalar_t, A>;
    for_each_chunk(TypeTag<Clip>{}, [&](scalar_t* w, int64_t w_row, scalar_t* th, int64_t th_row,
                                        int64_t th_col, const scalar_t* next, Clip* deferred) {
      solve_chunk_sorted<C, decltype(l1)::value, decltype(next_rows)::value, scalar_t, A>(
          w, w_row, job.K, th, th_row, th_col, job.m, p, reciprocal, next, deferred);
    });
  };
  auto searched_chunks = [&](auto l1) {
    for_each_chunk(TypeTag<void>{}, [&](scalar_t* w, int64_t w_row, scalar_t* th, int64_t th_row,
                                        int64_t th_col, const scalar_t* next, void*) {
      solve_chunk<C, decltype(l1)::value, scalar_t, A>(w, w_row, job.K, th, th_row, th_col, job.m, p, next,
                                                       scratch.get(), kept.get());
    });
  };
  // Copies without the L1 term's subtractions: for the sorted chunks, and for float lanes'
  // search, where it measured 5-9% faster (alternating runs, d = 1e4 and 1e5, K = 16 to 256); for
  // double's search no faster (0.97-1.01), and one build of it was 15-20% slower at K = 64 (the
  // search rounds' sums spilled to the stack).
  const bool l1 = p.lam_bar != A(0);
  if (job.K <= sorted_max) {
    const int64_t w_bytes = job.K * job.w_row * static_cast<int64_t>(sizeof(scalar_t));
    auto sorted_l1 = [&](auto next_rows) {
      l1 ? sorted_chunks(std::true_type{}, next_rows) : sorted_chunks(std::false_type{}, next_rows);
    };
    const NextRows next_rows = sorted_next_rows(job.K, w_bytes);
    if (next_rows == NextRows::kNone) {
      sorted_l1(std::integral_constant<NextRows, NextRows::kNone>{});
    } else if (next_rows == NextRows::kToL1) {
      sorted_l1(std::integral_constant<NextRows, NextRows::kToL1>{});
    } else {
      sorted_l1(std::integral_constant<NextRows, NextRows::kToL2>{});
    }
  } else if constexpr (std::is_same<A, float>::value) {
    l1 ? searched_chunks(std::true_type{}) : searched_chunks(std::false_type{});
  } else {
    searched_chunks(std::true_type{});
  }
  for (int64_t j = tail_chunk ? j1 : chunks_end; j < j1; ++j) {
    hier_prox_feature<scalar_t, A>(job.th + j * job.th_col, job.th_row, job.m, job.w + j, job.w_row,
                                   job.K, p);
  }
}

// The largest chunk (K rows of LASSONET_CHUNK_BYTES) whose search runs at the build's full width.
// The search passes over a chunk again and again, so it should stay well inside L1. With AVX-512
// and float32 (2 threads, op / copy, alternating runs), 32-feature chunks against 16-feature ones:
// K = 16 and 32 about 1.4x faster, K = 64 the same, K = 128 and 256 (16-32 KB) slower. The sorted
// chunks read their rows once (and their search is a fallback): full width at every K they take
// (float32 K = 100 to 256: 0.74-0.77x the time at d = 1e4, 0.71-0.72x with M = 0.15 and 0.3, where
// most chunks fall back to the search; 0.98-1.0x at d = 1e5; one thread).
constexpr int64_t kWideChunkMaxBytes = 8192;

// Features j0 .. j1 - 1 of `job` (one thread's share): chunks of chunk_width(), or half as wide
// where a searched chunk would not fit kWideChunkMaxBytes.
template <typename scalar_t>
void solve_features(const ChunkJob<scalar_t>& job, int64_t j0, int64_t j1) {
  constexpr int C = chunk_width<scalar_t>();
  if constexpr (LASSONET_CHUNK_BYTES > 64) {
    if (job.K > sorted_top_max_entries<scalar_t>() && job.K * LASSONET_CHUNK_BYTES > kWideChunkMaxBytes) {
      return solve_features_in_chunks<C / 2>(job, j0, j1);
    }
  }
  solve_features_in_chunks<C>(job, j0, j1);
}

}  // namespace LASSONET_ISA
}  // namespace lassonet
