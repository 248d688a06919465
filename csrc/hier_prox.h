// HIER-PROX for one feature: the per-feature math shared by the CPU and CUDA kernels.
//
// No torch types here, so the same code compiles for host and device and the CPU tests exercise
// exactly the arithmetic the GPU runs.
//
// Feature j owns v = theta[:, j] (m values) and w = W[:, j] (K values). The op writes the exact
// minimiser of
//   1/2||b - v||^2 + 1/2||u - w||^2 + lam ||b||_2 + lam_bar ||u||_1   s.t.  ||u||_inf <= M ||b||_2.
// With s_i = max(|w_i| - lam_bar, 0) and r = ||b||, the optimum is b = r v/||v||,
// u_i = sign(w_i) min(s_i, M r), and r is the root of the increasing piecewise-linear
//   g(r) = r - ||v|| + lam - M sum_i max(s_i - M r, 0)      (r = 0 when g(0) >= 0).
// On the active set A = {i : s_i > M r}:  r = (||v|| - lam + M sum_A s_i) / (1 + |A| M^2), the
// paper's w_m / M with m = |A|. Instead of sorting we start from Condat's online estimate (made
// during the statistics pass), then shrink Michelot-style: solve for r on {s_i > M r}, repeat until
// the set stops changing. Every candidate r is a lower bound of the optimum and the sets only
// shrink, so the loop stops, exactly, after at most K passes (in practice one to five; a pass
// whose set's smallest entry stays above the new bound needs no confirming pass). On the CPU,
// features with at most 64 W entries (float32: 256) are sorted instead (solve_entries_sorted:
// sorting networks, then the largest candidate over the prefixes of the 16 largest; the search
// decides where more than 16 may be active); the GPU searches (sorts_entries). Each feature's
// result is a function of its own entries computed in a fixed order, so it does not depend on how
// features are split between threads, and every CPU path (chunks, lone features, each instruction
// set) gives the same bits. (The CUDA kernels agree to rounding: nvcc contracts multiply-adds into
// FMAs by default, and they search where the CPU sorts.)
#pragma once

#include <cmath>
#include <cstdint>

// x86 host code (not a GPU's): the sequential sort's compare-exchange as SSE max/min (see
// scalar_compare_exchange).
#if !defined(__CUDA_ARCH__) && !defined(__HIP_DEVICE_COMPILE__) && (defined(__x86_64__) || defined(_M_X64))
#include <emmintrin.h>
#define LASSONET_SSE2_MINMAX 1
#endif

#if defined(__CUDACC__) || defined(__HIPCC__)
#define LASSONET_HD __host__ __device__ __forceinline__
#else
#define LASSONET_HD inline
#endif

// Functions that must inline where they are called with a lambda whose captures should stay in
// registers (the sorting networks: GCC 12 kept them out of line, the lanes in memory).
#if defined(__CUDACC__) || defined(__HIPCC__)
#define LASSONET_HD_INLINE __host__ __device__ __forceinline__
#elif defined(__GNUC__)
#define LASSONET_HD_INLINE inline __attribute__((always_inline))
#else
#define LASSONET_HD_INLINE inline
#endif

// Loops over a fixed count that must unroll (so that a small array indexed by the loop stays in
// registers: the CPU chunks' lane vectors).
#if defined(__CUDACC__) || defined(__HIPCC__)
#define LASSONET_UNROLL _Pragma("unroll")
#elif defined(__GNUC__) && !defined(__clang__)
#define LASSONET_UNROLL _Pragma("GCC unroll 16")
#else
#define LASSONET_UNROLL
#endif

// Each CPU instruction-set build of the kernels (cpu/hier_prox_cpu_avx2.cpp) compiles this header
// in its own inline namespace: its symbols differ, so the linker can never swap an AVX2 copy of an
// inline function into the baseline code (which must run on any x86-64).
#ifndef LASSONET_ISA
#define LASSONET_ISA isa_default
#endif

namespace lassonet {
inline namespace LASSONET_ISA {

// Accumulation type: float for float/half/bfloat16 storage, double for double. The CPU kernel uses
// the same choice as the CUDA one so that both run identical arithmetic.
template <typename T>
struct AccumulateType {
  using type = float;
};
template <>
struct AccumulateType<double> {
  using type = double;
};
template <typename T>
using acc_t = typename AccumulateType<T>::type;

template <typename A>
struct ProxParams {
  A lam;      // threshold on ||theta_j||_2 (step size times the penalty)
  A M;        // hierarchy constant, >= 0 (M = 0 is the group lasso on theta, W -> 0)
  A lam_bar;  // L1 threshold on W's entries, >= 0
};

// The op's double arguments in the kernels' accumulation type.
template <typename A>
inline ProxParams<A> make_params(double lam, double M, double lam_bar) {
  return {static_cast<A>(lam), static_cast<A>(M), static_cast<A>(lam_bar)};
}

namespace detail {

LASSONET_HD float sqrt_(float x) { return ::sqrtf(x); }
LASSONET_HD double sqrt_(double x) { return ::sqrt(x); }
LASSONET_HD float copysign_(float a, float b) { return ::copysignf(a, b); }
LASSONET_HD double copysign_(double a, double b) { return ::copysign(a, b); }
LASSONET_HD float abs_(float x) { return ::fabsf(x); }  // branch-free; NaN stays NaN
LASSONET_HD double abs_(double x) { return ::fabs(x); }
template <typename A>
LASSONET_HD bool finite_(A x) {
  // x - x is 0 for finite x and NaN for inf/NaN; independent of <cmath> overloads on device.
  return (x - x) == A(0);
}
template <typename A>
LASSONET_HD A inf_() {
  return static_cast<A>(HUGE_VAL);
}
template <typename A>
LASSONET_HD A nan_() {
  const A zero = A(0);
  return zero / zero;  // quiet NaN without std::numeric_limits (not constexpr-callable on device)
}

}  // namespace detail

// The entries of one feature (or one group of features) in a strided tensor: for each of its
// columns c (the group's features, or the single feature `col`), `rows` x `inner` values at
//   base[c * col_stride + k * row_stride + t * inner_stride],
// visited column by column, then k, then t. theta columns have inner = 1; W columns have
// inner = the product of W's trailing dimensions (1 for an nn.Linear weight, kh*kw for a Conv2d).
template <typename T>
struct Entries {
  T* base;
  int64_t rows, row_stride;
  int64_t inner, inner_stride;
  int64_t col_stride;
  const int64_t* cols;  // the group's features; nullptr: the single feature `col`
  int64_t n_cols;
  int64_t col;

  LASSONET_HD int64_t size() const { return n_cols * rows * inner; }

  template <typename F>
  LASSONET_HD void for_each(F&& f) const {
    for (int64_t c = 0; c < n_cols; ++c) {
      T* p = base + (cols != nullptr ? cols[c] : col) * col_stride;
      for (int64_t k = 0; k < rows; ++k) {
        for (int64_t t = 0; t < inner; ++t) f(p[k * row_stride + t * inner_stride]);
      }
    }
  }
};

// A single strided column of n values (one feature of a 2-D weight).
template <typename T>
LASSONET_HD Entries<T> column(T* p, int64_t stride, int64_t n) {
  return Entries<T>{p, n, stride, 1, 0, 0, nullptr, 1, 0};
}

// What one feature's problem reduces to: the new norm r of theta_j.
template <typename A>
struct FeatureRadius {
  A r;           // ||b|| at the optimum, >= 0
  A norm_v;      // ||theta_j|| before the update
  bool finite;   // false when theta_j or W_j hold inf/NaN (or their sums overflow)
};

// Statistics of the shrunk magnitudes s_i = max(|w_i| - lam_bar, 0) over one feature.
template <typename A, typename N = int32_t>
struct ShrunkStats {
  A sum_abs = A(0);  // sum |w_i|, only to detect inf/NaN
  A sum = A(0);      // sum of the positive s_i
  A max = A(0);      // largest s_i
  N count = N(0);     // number of positive s_i (K < 2^31 is checked by the op)
  // Condat's online filter: its running set R as the fraction (base + M sum_R s_i) / (1 + |R| M^2),
  // numerator and denominator kept apart so that the per-entry test needs no division.
  A run_num = A(0);
  A run_den = A(1);
  A lower = A(0);    // a lower bound on the optimal r: the filter's radius, set by finish_stats
};
// ||v||_2 over a feature's (or group's) theta entries, safe against overflow of the squares.
template <typename A, typename T>
LASSONET_HD A entries_norm(const Entries<T>& v) {
  if (v.size() == 1) {  // exact for the common single output
    A x = A(0);
    v.for_each([&](const T& e) { x = detail::abs_(static_cast<A>(e)); });
    return x;
  }
  A ss = A(0);
  v.for_each([&](const T& e) {
    const A x = static_cast<A>(e);
    ss += x * x;
  });
  if (detail::finite_(ss)) return detail::sqrt_(ss);
  // The squares overflowed (or an entry is inf/NaN): redo the sum scaled by the largest entry.
  A big = A(0);
  bool finite = true;
  v.for_each([&](const T& e) {
    const A a = detail::abs_(static_cast<A>(e));
    finite = finite && detail::finite_(a);
    big = a > big ? a : big;
  });
  if (!finite) return detail::nan_<A>();  // NaN marks a non-finite column
  ss = A(0);
  v.for_each([&](const T& e) {
    const A x = static_cast<A>(e) / big;
    ss += x * x;
  });
  return big * detail::sqrt_(ss);
}

template <typename T, typename A>
LASSONET_HD A column_norm(const T* v, int64_t stride, int64_t m) {
  return entries_norm<A>(column(v, stride, m));
}

// r for a given active set (its sum and size); clipped at 0 against rounding.
template <typename A>
LASSONET_HD A radius_for_active_set(A base, A M, A sum, int32_t count) {
  const A r = (base + M * sum) / (A(1) + static_cast<A>(count) * M * M);
  return r > A(0) ? r : A(0);
}

// An entry's magnitude shrunk by lam_bar (may be negative: s_i is its positive part).
template <typename A>
LASSONET_HD A shrunk_magnitude(A x, A lam_bar) {
  return detail::abs_(x) - lam_bar;
}

// One entry's contribution to its feature's statistics (shared by every backend's loops).
// Conditional sums are written `sum = pos ? sum + s : sum`, not `sum += pos ? s : 0`: the same
// values (these sums never hold -0, the one value that x + 0 changes), and with AVX-512 the
// vectorised loops become one masked add instead of a masked move and an add (CPU chunk solver:
// float 8-18%, double 8-21% faster, alternating runs). N, the count's type, is int32 except where
// the CPU chunk solver keeps its lanes all one width (chunk_solver.h, lane_count_t).
// Besides sums, it runs Condat's online filter: an entry above the running set's clipping level
// M r_R joins the set, which raises r_R (so r_R only grows). The candidate radius of ANY set is a
// lower bound on the optimum (g is increasing and g(r_A) <= 0), so the filter's final r_R is a
// valid start for the search, and usually a close one. The test s > M r_R is made as
// s (1 + |R| M^2) > M (base + M sum_R s_i): no division on the loop-carried chain.
template <typename A, typename N>
LASSONET_HD void accumulate_stats(ShrunkStats<A, N>& st, A x, A lam_bar, A M) {
  const A a = detail::abs_(x);
  const A s = a - lam_bar;
  const bool pos = s > A(0);
  st.sum_abs += a;
  st.sum = pos ? st.sum + s : st.sum;
  st.count = pos ? st.count + N(1) : st.count;
  st.max = s > st.max ? s : st.max;
  const bool join = s * st.run_den > M * st.run_num;
  st.run_num = join ? st.run_num + M * s : st.run_num;
  st.run_den = join ? st.run_den + M * M : st.run_den;
}

// Fresh statistics for a feature with base = ||theta_j|| - lam (the filter starts from the empty set).
template <typename A, typename N = int32_t>
LASSONET_HD ShrunkStats<A, N> start_stats(A base) {
  ShrunkStats<A, N> st;
  st.run_num = base;
  return st;
}

// Close the statistics: the filter's radius becomes the lower bound the search starts from.
template <typename A, typename N>
LASSONET_HD void finish_stats(ShrunkStats<A, N>& st) {
  const A r = st.run_num / st.run_den;
  st.lower = r > A(0) ? r : A(0);
}

// Statistics of one feature's (or group's) W entries, summed in index order.
template <typename A, typename T>
LASSONET_HD ShrunkStats<A> entries_stats(const Entries<T>& w, A lam_bar, A base, A M) {
  ShrunkStats<A> st = start_stats(base);
  w.for_each([&](const T& e) { accumulate_stats(st, static_cast<A>(e), lam_bar, M); });
  finish_stats(st);
  return st;
}

// Sum and size of the active set {i : s_i > bound}, and its smallest entry, as returned by one
// pass over a feature.
template <typename A, typename N = int32_t>
struct ActiveSum {
  A sum = A(0);
  N count = N(0);
  A min = detail::inf_<A>();  // +inf for an empty set
};

// One entry's contribution to a pass of the active-set search, from its shrunk_magnitude s (sums
// written as in accumulate_stats).
template <typename A, typename N>
LASSONET_HD void accumulate_shrunk(ActiveSum<A, N>& a, A s, A bound) {
  const bool in = s > bound;
  a.sum = in ? a.sum + s : a.sum;
  a.count = in ? a.count + N(1) : a.count;
  const A t = in ? s : detail::inf_<A>();
  a.min = t < a.min ? t : a.min;
}

// One entry's contribution to a pass of the active-set search.
template <typename A>
LASSONET_HD void accumulate_active(ActiveSum<A>& a, A x, A lam_bar, A bound) {
  accumulate_shrunk(a, shrunk_magnitude(x, lam_bar), bound);
}

// One step of the search on plain values, branch-free, so that a backend can keep many features'
// searches in arrays and vectorise the step (the CPU kernel). (sum, count, min) is the last pass's
// ActiveSum at the bound M r; last_count the size of the previous pass's set (-1: none); done is 0/1.
// Conditions combine with | rather than ||: a short-circuit is control flow, which GCC 12's
// vectoriser could not turn into AVX-512 masks (the CPU kernel's step then ran scalar).
template <typename A>
LASSONET_HD void search_step(A& r, int32_t& last_count, int32_t& done, A base, A M, A sum,
                             int32_t count, A min) {
  // The same set as the pass before: it is self-consistent and r is the root of g.
  const bool stop = (done != 0) | (count == last_count);
  // In exact arithmetic the candidates only grow. Keeping the larger one stops rounding from
  // dropping a boundary entry and collapsing r (seen with float32 and M = 1e6).
  const A next = radius_for_active_set(base, M, sum, count);
  const A grown = next > r ? next : r;
  // Entries outside the set lie below the old bound, hence below the new one. If the set's
  // smallest entry stays above the new bound, the next pass would find the same set: stop now
  // (the result is the one that pass would confirm, without reading the entries again).
  const bool settled = min > M * grown;
  r = stop ? r : grown;
  last_count = stop ? last_count : count;
  done = (stop | settled) ? 1 : 0;
}

// The active-set search for one feature as a small state machine, so a backend can run the passes
// of many features together (the CPU kernel) or one feature per warp (the CUDA fast path):
//   RadiusSearch<A> q = start_search(norm_v, stats, p);
//   while (!q.done) q.step(pass over entries with bound q.bound(p)), p);
template <typename A>
struct RadiusSearch {
  FeatureRadius<A> sol;
  A base = A(0);      // ||v|| - lam
  int32_t count = -1;  // size of the last pass's active set (-1: no pass yet)
  int32_t done = 1;

  LASSONET_HD A bound(ProxParams<A> p) const { return p.M * sol.r; }

  LASSONET_HD void step(ActiveSum<A> a, ProxParams<A> p) {
    search_step(sol.r, count, done, base, p.M, a.sum, a.count, a.min);
  }
};

// Whether a feature's inputs are finite, from ||theta_j|| and the sum of |W_j| (inf/NaN in an entry,
// or a sum that overflows, make it non-finite).
template <typename A>
LASSONET_HD bool finite_feature(A norm_v, A sum_abs) {
  return detail::finite_(norm_v) & detail::finite_(sum_abs);
}

// Whether r = base (= ||theta_j|| - lam) clips no entry: base > 0 and M base >= the largest s_i.
// (A may be a GCC vector of lanes, as in the CPU chunks: then a mask of lanes; A() is zero.)
template <typename A>
LASSONET_HD auto no_entry_clipped(A base, A M, A s_max) {
  return (base > A()) & (M * base >= s_max);
}

// The search's start from a feature's statistics (finish_stats applied). Written as selects, not
// early returns, so that the CPU kernel runs it across a chunk's features as vector lanes; every
// backend calls this one function, so all start alike.
template <typename A, typename N>
LASSONET_HD RadiusSearch<A> start_search(A norm_v, ShrunkStats<A, N> st, ProxParams<A> p) {
  const bool finite = finite_feature(norm_v, st.sum_abs);
  const A base = norm_v - p.lam;
  const bool dies = base + p.M * st.sum <= A(0);  // g(0) >= 0
  const bool unclipped = no_entry_clipped(base, p.M, st.max);
  // Otherwise start from the best lower bound; passes then shrink {s_i > M r} to its fixed point.
  const A all = radius_for_active_set(base, p.M, st.sum, static_cast<int32_t>(st.count));
  const A lower = st.lower > all ? st.lower : all;
  RadiusSearch<A> q;
  q.sol.norm_v = norm_v;
  q.sol.finite = finite;
  q.sol.r = (!finite | dies) ? A(0) : unclipped ? base : lower;
  q.base = finite ? base : A(0);
  q.done = (!finite | dies | unclipped) ? 1 : 0;
  return q;
}

// The whole search given a pass functor `active(bound) -> ActiveSum<A>`.
template <typename A, typename ActivePass>
LASSONET_HD FeatureRadius<A> radius_from_stats(A norm_v, ShrunkStats<A> st, ProxParams<A> p,
                                               ActivePass&& active) {
  RadiusSearch<A> q = start_search(norm_v, st, p);
  while (!q.done) q.step(active(q.bound(p)), p);
  return q.sol;
}

// Sum and size of {i : s_i > bound} over one feature's (or group's) W entries, in index order.
template <typename A, typename T>
LASSONET_HD ActiveSum<A> entries_active(const Entries<T>& w, A lam_bar, A bound) {
  ActiveSum<A> a;
  w.for_each([&](const T& e) { accumulate_active(a, static_cast<A>(e), lam_bar, bound); });
  return a;
}

// Features with few W entries (K <= 16 for a feature of a 2-D weight) skip the search: sort the
// shrunk magnitudes, s_(1) >= s_(2) >= ..., and with the prefix sums P_m = s_(1) + ... + s_(m)
//   r = max(0, max_{m = 0..n} (base + M P_m) / (1 + m M^2)).
// Exact: the optimum's active set {s_i > M r} is the m largest entries for some m, and the radius
// of ANY set is a lower bound on the optimum (see accumulate_stats), so the largest candidate is
// the optimum. A feature with no entry clipped keeps r = base, as start_search gives it (the prox
// of a feasible point at lam = 0 is then the identity, bit for bit). At small K the search's
// passes are latency-bound chains of 16 dependent adds, run 2 to 3 times per chunk, after a
// statistics pass bound by Condat's filter; the sort is independent compare-exchanges (the CPU
// chunk solver, one thread: float32 K = 16 about 0.5x the time, float64 0.55-0.6x, K = 8 0.3-0.5x,
// alternating runs). Every CPU path computes the same values in the same order: the sorted
// sequence does not depend on how it is sorted, P_m adds it in order, and each candidate
// multiplies by the reciprocal 1 / (1 + m M^2) (a division per candidate would dominate).
//
// From 17 to sorted_top_max_entries() entries the CPU keeps only the 16 largest, sorted: blocks of
// 16 are sorted by the network and merged into them (the larger of s_(k) and the block's
// (17 - k)-th largest, then a bitonic network), and the candidates run over m = 0 .. 16. That is
// the optimum unless more than 16 entries are active, which the result itself rules out where
// s_(16) <= M r (then every entry after the 16th is at most M r* and inactive, since r <= r*),
// where the feature dies (base + M sum_i s_i <= 0: every candidate is at most 0), where M = 0
// (every candidate is base) or where it is not finite; elsewhere the search decides. At 64 entries
// the active set rarely holds more than 8 (benchmark data: 1.3% of features hold 8 or more), and
// the chunks took 0.55-0.8x the search's time (float32 and float64, K = 32 and 64, one thread,
// alternating runs); with a small M (0.3 and below on that data, where most features hold more
// than 16 active entries) a chunk sorts and then searches: 1.1-2.2x the search's time.
constexpr int kSortedMaxEntries = 16;

// Up to how many W entries of type T the CPU sorts a feature's (sorts_entries; the 16-bit types
// 64): with float keys, which the AVX2 and AVX-512 chunks sort as int32 (two 512-bit max/min a
// cycle on Zen 4), 256; the chunks took 0.57-0.71x the search's time at K = 128
// and 256 with M = 1 and 10 on the benchmark's data, and 1.13-1.27x where most features hold more
// than 16 active entries (M = 0.15 and 0.3: sort, then search). With double
// keys 64: at K = 128 and 256 0.69-0.96x, but 1.2-1.6x at M = 0.15 and 0.3. (One thread, AVX-512,
// AMD Zen 4, d = 1e4, alternating.) The baseline build's float sort: 0.53-0.59x its search at
// K = 100 and 256 (2 threads).
template <typename T>
LASSONET_HD constexpr int64_t sorted_top_max_entries() {
  return sizeof(T) == 4 ? 256 : 64;
}

// Sorting networks, descending: ce(i, j) must leave the larger of entries i < j at i. Optimal
// comparator counts for 8 inputs (19) and 16 (60, Green's); both are checked exhaustively on 0/1
// inputs by the C++ tests (a network that sorts every 0/1 sequence sorts every sequence).
template <typename CE>
LASSONET_HD_INLINE void sorting_network_8(CE&& ce) {
  ce(0, 2), ce(1, 3), ce(4, 6), ce(5, 7);
  ce(0, 4), ce(1, 5), ce(2, 6), ce(3, 7);
  ce(0, 1), ce(2, 3), ce(4, 5), ce(6, 7);
  ce(2, 4), ce(3, 5);
  ce(1, 4), ce(3, 6);
  ce(1, 2), ce(3, 4), ce(5, 6);
}

template <typename CE>
LASSONET_HD_INLINE void sorting_network_16(CE&& ce) {
  ce(0, 13), ce(1, 12), ce(2, 15), ce(3, 14), ce(4, 8), ce(5, 6), ce(7, 11), ce(9, 10);
  ce(0, 5), ce(1, 7), ce(2, 9), ce(3, 4), ce(6, 13), ce(8, 14), ce(10, 15), ce(11, 12);
  ce(0, 1), ce(2, 3), ce(4, 5), ce(6, 8), ce(7, 9), ce(10, 11), ce(12, 13), ce(14, 15);
  ce(0, 2), ce(1, 3), ce(4, 10), ce(5, 11), ce(6, 7), ce(8, 9), ce(12, 14), ce(13, 15);
  ce(1, 2), ce(3, 12), ce(4, 6), ce(5, 7), ce(8, 10), ce(9, 11), ce(13, 14);
  ce(1, 4), ce(2, 6), ce(5, 8), ce(7, 10), ce(9, 13), ce(11, 14);
  ce(2, 4), ce(3, 6), ce(9, 12), ce(11, 13);
  ce(3, 5), ce(6, 8), ce(7, 9), ce(10, 12);
  ce(3, 4), ce(5, 6), ce(7, 8), ce(9, 10), ce(11, 12);
  ce(6, 7), ce(8, 9);
}

// Sorts a bitonic sequence of 16 (descending then ascending, or the reverse), descending: four
// rounds of half-cleaners.
template <typename CE>
LASSONET_HD_INLINE void bitonic_network_16(CE&& ce) {
  ce(0, 8), ce(1, 9), ce(2, 10), ce(3, 11), ce(4, 12), ce(5, 13), ce(6, 14), ce(7, 15);
  ce(0, 4), ce(1, 5), ce(2, 6), ce(3, 7), ce(8, 12), ce(9, 13), ce(10, 14), ce(11, 15);
  ce(0, 2), ce(1, 3), ce(4, 6), ce(5, 7), ce(8, 10), ce(9, 11), ce(12, 14), ce(13, 15);
  ce(0, 1), ce(2, 3), ce(4, 5), ce(6, 7), ce(8, 9), ce(10, 11), ce(12, 13), ce(14, 15);
}

// The width of the network that sorts n <= 16 values (padded with zeros to it).
LASSONET_HD int64_t sorting_network_width(int64_t n) { return n <= 8 ? 8 : 16; }

// The rows a sort of n <= sorted_top_max_entries() values reads, zero-padded: the network's width,
// or whole blocks of 16.
LASSONET_HD int64_t sorted_rows(int64_t n) {
  return n <= kSortedMaxEntries ? sorting_network_width(n) : (n + 15) / 16 * 16;
}

// Sorts the first sorting_network_width(n) values (n <= 16, or the first block of a longer list),
// padded with zeros past n.
template <typename CE>
LASSONET_HD_INLINE void sorting_network(int64_t n, CE&& ce) {
  if (sorting_network_width(n) == 8) {
    sorting_network_8(ce);
  } else {
    sorting_network_16(ce);
  }
}

// The descending compare-exchange of two values (the shrunk magnitudes: never NaN, never -0).
template <typename A>
LASSONET_HD void compare_exchange(A& hi, A& lo) {
  const A x = hi, y = lo;
  hi = x > y ? x : y;
  lo = x > y ? y : x;
}

// compare_exchange for one feature's values (solve_entries_sorted; the CPU chunks run
// compare_exchange on vectors of lanes). On x86 hosts as maxss/minss: hi = max(x, y) is
// x > y ? x : y and lo = min(y, x) is y < x ? y : x, the same selects bit for bit. From the
// selects GCC made a conditional swap around a branch, which random data mispredicts: one feature
// at a time (column-major W), K = 17 to 64, the sort took 2.4-6.4x the search's time.
template <typename A>
LASSONET_HD void scalar_compare_exchange(A& hi, A& lo) {
  compare_exchange(hi, lo);
}
#if defined(LASSONET_SSE2_MINMAX)
inline void scalar_compare_exchange(float& hi, float& lo) {
  const __m128 x = _mm_set_ss(hi), y = _mm_set_ss(lo);
  hi = _mm_cvtss_f32(_mm_max_ss(x, y));
  lo = _mm_cvtss_f32(_mm_min_ss(y, x));
}
inline void scalar_compare_exchange(double& hi, double& lo) {
  const __m128d x = _mm_set_sd(hi), y = _mm_set_sd(lo);
  hi = _mm_cvtsd_f64(_mm_max_sd(x, y));
  lo = _mm_cvtsd_f64(_mm_min_sd(y, x));
}
#endif

// An entry's shrunk magnitude as the sort takes it: max(|x| - lam_bar, 0) (NaN becomes 0: the
// feature is marked non-finite by its sum of |x| instead).
template <typename A>
LASSONET_HD A sort_key(A x, A lam_bar) {
  const A s = shrunk_magnitude(x, lam_bar);
  return s > A(0) ? s : A(0);
}

// 1 / (1 + m M^2), the reciprocal that candidate m multiplies by.
template <typename A>
LASSONET_HD A candidate_reciprocal(A M, int64_t m) {
  return A(1) / (A(1) + static_cast<A>(m) * M * M);
}

// Candidate m from candidate m - 1: add s_(m) to the prefix sum, keep the larger candidate.
template <typename A>
LASSONET_HD void sorted_candidate_step(A& prefix, A& best, A s, A base, A M, A reciprocal) {
  prefix += s;
  const A r = (base + M * prefix) * reciprocal;
  best = r > best ? r : best;
}

// How many candidates the sorted paths compute before asking whether the rest can matter
// (sorted_prefix_certified): on the benchmark's problem (M = 1, about half the features clipped)
// more than 8 entries were active in 0.02% of the features (K = 16) and 1.3% (K = 64).
constexpr int kCertifiedCandidates = 8;

// Whether the candidates up to m (their largest: best) already give the sorted radius, whatever
// the later ones: no entry is clipped (the radius is base), or the next sorted entry s_(m+1) is
// at most M max(best, 0), since each later candidate is a weighted average of the one before
// (weight 1 + m M^2) and s_(m+1) / M (weight M^2) and so exceeds neither (up to rounding). A
// feature's radius is then the largest of its first candidates: decided by its own entries alone,
// whether the other lanes of its chunk go on or not.
// (A may be a vector of lanes, as for no_entry_clipped.)
template <typename A>
LASSONET_HD auto sorted_prefix_certified(A base, A M, A s_max, A best, A s_next) {
  const A r = best > A() ? best : A();
  return no_entry_clipped(base, M, s_max) | (s_next <= M * r);
}

// The 16 largest of n <= sorted_top_max_entries() values, sorted descending into s (zeros past n).
// load_block(block, b) fills block[0 .. 15] with values b .. b + 15 (zeros past n); cx(hi, lo) is
// the compare-exchange (V: a value, or the CPU chunk solver's vector of lanes). Each later block
// is sorted, then s[k] takes the larger of s[k] and the block's (16 - k)-th largest: the 16
// largest of both, as a bitonic sequence, which bitonic_network_16 sorts.
template <typename V, typename Load, typename CX>
LASSONET_HD_INLINE void sorted_top_16(V (&s)[kSortedMaxEntries], int64_t n, Load&& load_block, CX&& cx) {
  load_block(s, 0);
  sorting_network(n, [&](int i, int j) { cx(s[i], s[j]); });
  for (int64_t b = kSortedMaxEntries; b < n; b += kSortedMaxEntries) {
    V u[kSortedMaxEntries];
    load_block(u, b);
    sorting_network_16([&](int i, int j) { cx(u[i], u[j]); });
    LASSONET_UNROLL
    for (int k = 0; k < kSortedMaxEntries; ++k) cx(s[k], u[kSortedMaxEntries - 1 - k]);
    bitonic_network_16([&](int i, int j) { cx(s[i], s[j]); });
  }
}

// Whether the sorted radius r of a feature with n entries is its optimum (see kSortedMaxEntries):
// always up to 16 entries; beyond, where s16 (the 16th largest entry) <= M r, the feature dies
// (sum_s: the sum of its shrunk magnitudes), M = 0 or it is not finite.
template <typename A>
LASSONET_HD bool sorted_radius_exact(int64_t n, bool finite, A r, A s16, A base, A sum_s, ProxParams<A> p) {
  if (n <= kSortedMaxEntries) return true;
  return !finite || (s16 <= p.M * r) || (base + p.M * sum_s <= A(0)) || (p.M == A(0));
}

// The radius from the largest candidate (best, started at candidate 0 = base) and the largest
// shrunk magnitude; 0 for a non-finite feature. (Plain values in and out, so that the CPU chunk
// solver's loop over lanes vectorises: GCC 12 left it scalar when this returned a FeatureRadius.)
template <typename A>
LASSONET_HD A sorted_radius(A norm_v, bool finite, A s_max, A best, ProxParams<A> p) {
  const A base = norm_v - p.lam;
  const bool unclipped = no_entry_clipped(base, p.M, s_max);  // as in start_search
  const A clipped = best > A(0) ? best : A(0);
  const A r = unclipped ? base : clipped;
  return finite ? r : A(0);
}

// r for a feature (or group) with at most sorted_top_max_entries<A>() W entries, by sorting (the
// 16 largest beyond 16 entries), and whether it is exact (else the search must decide). A feature
// with no entry clipped (or not finite) skips the sort: sorted_radius gives it base (or 0) either
// way, and the search's start finds it in one pass.
template <typename A>
struct SortedRadius {
  FeatureRadius<A> sol;
  bool exact;
};

template <typename A, typename T>
LASSONET_HD SortedRadius<A> solve_entries_sorted(const Entries<T>& v, const Entries<T>& w,
                                                 ProxParams<A> p) {
  const A norm_v = entries_norm<A>(v);
  const int64_t n = w.size();
  const A base = norm_v - p.lam;
  A keys[sorted_top_max_entries<A>()];  // (A holds T: no fewer than sorted_top_max_entries<T>())
  A sum_abs = A(0), sum_s = A(0), s_max = A(0);
  int64_t n_keys = 0;
  w.for_each([&](T& e) {  // (in index order, as the CPU chunks)
    const A x = static_cast<A>(e);
    sum_abs += detail::abs_(x);
    const A key = sort_key(x, p.lam_bar);
    keys[n_keys++] = key;
    sum_s += key;
    s_max = key > s_max ? key : s_max;
  });
  SortedRadius<A> q;
  q.sol.norm_v = norm_v;
  q.sol.finite = finite_feature(norm_v, sum_abs);
  q.exact = true;
  if (!q.sol.finite || no_entry_clipped(base, p.M, s_max)) {  // r = 0 or base: nothing to sort
    q.sol.r = sorted_radius(norm_v, q.sol.finite, s_max, base, p);
    return q;
  }
  auto load_block = [&](A* block, int64_t b) {
    LASSONET_UNROLL
    for (int i = 0; i < kSortedMaxEntries; ++i) block[i] = b + i < n ? keys[b + i] : A(0);
  };
  A s[kSortedMaxEntries];
  sorted_top_16(s, n, load_block, [](A& hi, A& lo) { scalar_compare_exchange(hi, lo); });
  A prefix = A(0), best = base;
  auto candidates = [&](int m0, int m1) {  // candidates m0 .. m1 (up to n)
    LASSONET_UNROLL
    for (int m = m0; m <= m1; ++m) {
      if (m <= n) sorted_candidate_step(prefix, best, s[m - 1], base, p.M, candidate_reciprocal(p.M, m));
    }
  };
  candidates(1, kCertifiedCandidates);
  if (n > kCertifiedCandidates && !sorted_prefix_certified(base, p.M, s[0], best, s[kCertifiedCandidates])) {
    candidates(kCertifiedCandidates + 1, kSortedMaxEntries);
  }
  q.sol.r = sorted_radius(norm_v, q.sol.finite, s[0], best, p);
  q.exact = sorted_radius_exact(n, q.sol.finite, q.sol.r, s[kSortedMaxEntries - 1], base, sum_s, p);
  return q;
}

// r for any number of entries, by the active-set search.
template <typename A, typename T>
LASSONET_HD FeatureRadius<A> solve_entries_searched(const Entries<T>& v, const Entries<T>& w,
                                                    ProxParams<A> p) {
  const A norm_v = entries_norm<A>(v);
  const ShrunkStats<A> st = entries_stats<A>(w, p.lam_bar, norm_v - p.lam, p.M);
  auto active = [&](A bound) { return entries_active<A>(w, p.lam_bar, bound); };
  return radius_from_stats<A>(norm_v, st, p, active);
}

// Whether solve_entries sorts n entries of type T: on the CPU up to sorted_top_max_entries<T>();
// on the GPU never.
// There a thread's 16 sorted values cost registers (and the kernels that held the sorted code
// more registers even where it never ran), and the search was faster on an H100: d = 1e6, K = 16,
// float32 0.092 ms searched vs 0.109 sorted, float64 0.163 vs 0.177 (benchmarks/RESULTS.md).
template <typename T>
LASSONET_HD bool sorts_entries(int64_t n) {
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
  (void)n;
  return false;
#else
  return n <= sorted_top_max_entries<T>();
#endif
}

// Solve for r sequentially (CPU per-feature and group kernels, CUDA kernels but the warp path).
template <typename A, typename T>
LASSONET_HD FeatureRadius<A> solve_entries(const Entries<T>& v, const Entries<T>& w,
                                           ProxParams<A> p) {
  if (sorts_entries<T>(w.size())) {
    const SortedRadius<A> q = solve_entries_sorted<A>(v, w, p);
    if (q.exact) return q.sol;
  }
  return solve_entries_searched<A>(v, w, p);
}

// The new value of an entry x of theta_j (or theta_G) for the solution sol: sign(x) r for a single
// entry (0 gets +r), x scaled to norm r (scale = r / ||theta_j||), or, where theta_j = 0 and the
// feature enters, r spread evenly (spread = r / sqrt(n)); NaN for a non-finite feature (the NaN
// policy: a feature with inf/NaN input becomes all NaN, the others are exact). Selects only, so
// that the CPU kernel runs it across a chunk's features as vector lanes.
template <typename A>
LASSONET_HD A theta_entry(A x, FeatureRadius<A> sol, bool single, A scale, A spread) {
  const A moved = single ? (x < A(0) ? -sol.r : sol.r) : sol.norm_v > A(0) ? x * scale : spread;
  return sol.finite ? moved : detail::nan_<A>();
}

// Write the new theta_j (or theta_G) for the solution sol.
template <typename A, typename T>
LASSONET_HD void apply_theta_entries(const Entries<T>& v, FeatureRadius<A> sol) {
  if (v.size() == 1) {  // (no scale to compute)
    v.for_each([&](T& e) { e = static_cast<T>(theta_entry(static_cast<A>(e), sol, true, A(0), A(0))); });
    return;
  }
  const A scale = sol.r / sol.norm_v;  // (unused where the norm is 0)
  if (sol.finite && sol.norm_v > A(0) && scale == A(1)) return;  // nothing moves
  const A spread = sol.r / detail::sqrt_(static_cast<A>(v.size()));
  v.for_each([&](T& e) { e = static_cast<T>(theta_entry(static_cast<A>(e), sol, false, scale, spread)); });
}

template <typename T, typename A>
LASSONET_HD void apply_theta(T* v, int64_t v_stride, int64_t m, FeatureRadius<A> sol) {
  apply_theta_entries<A>(column(v, v_stride, m), sol);
}

// The new value of one entry of W_j: shrink by lam_bar, clip to `bound` = M r, keep the sign.
// A NaN bound (non-finite feature) gives NaN. Sets `changed` when the value differs. Branch-free,
// so loops over entries vectorise.
template <typename A>
LASSONET_HD A clipped_entry(A x, A bound, A lam_bar, bool& changed) {
  const A a = detail::abs_(x);
  A s = a - lam_bar;
  s = s > A(0) ? s : A(0);
  const A u = s < bound ? s : bound;
  changed |= (u != a);
  return detail::copysign_(u, x);
}

// Update one entry of W_j in place. Returns whether it changed.
template <typename T, typename A>
LASSONET_HD bool apply_w_entry(T* w, A bound, A lam_bar) {
  bool changed = false;
  const A u = clipped_entry(static_cast<A>(*w), bound, lam_bar, changed);
  if (changed) *w = static_cast<T>(u);
  return changed;
}

template <typename A>
LASSONET_HD A clip_bound(FeatureRadius<A> sol, ProxParams<A> p) {
  return sol.finite ? p.M * sol.r : detail::nan_<A>();
}

// Write the solution for radius r into theta_j and W_j (or a group's). Returns whether W changed.
template <typename A, typename T>
LASSONET_HD bool apply_entries(const Entries<T>& v, const Entries<T>& w, FeatureRadius<A> sol,
                               ProxParams<A> p) {
  apply_theta_entries<A>(v, sol);
  const A bound = clip_bound(sol, p);
  bool changed = false;
  w.for_each([&](T& e) { changed |= apply_w_entry<T, A>(&e, bound, p.lam_bar); });
  return changed;
}

// The whole prox of one feature or group, in place. Returns whether its W entries changed.
template <typename A, typename T>
LASSONET_HD bool hier_prox_entries(const Entries<T>& v, const Entries<T>& w, ProxParams<A> p) {
  return apply_entries<A>(v, w, solve_entries<A>(v, w, p), p);
}

// The prox of feature j of 2-D (m, d) theta and (K, d) W given their column pointers and strides.
template <typename T, typename A>
LASSONET_HD bool hier_prox_feature(T* v, int64_t v_stride, int64_t m, T* w, int64_t w_stride,
                                   int64_t K, ProxParams<A> p) {
  return hier_prox_entries<A>(column(v, v_stride, m), column(w, w_stride, K), p);
}

}  // namespace LASSONET_ISA
}  // namespace lassonet
