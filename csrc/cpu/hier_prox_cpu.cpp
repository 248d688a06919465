// CPU kernel of lassonet::hier_prox.
//
// A column of a row-major (K, d) weight is strided by d, so the kernel works on chunks of adjacent
// features and walks their rows: every pass over a chunk (statistics, each round of the active-set
// search, the write) is a loop over rows whose inner loop runs across the chunk's features in
// registers, reading contiguous memory and vectorising. Each feature still accumulates in index
// order with the shared per-entry math of hier_prox.h, so results equal the CUDA general path bit
// for bit and do not depend on the thread count.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include <algorithm>
#include <limits>
#include <type_traits>

#include "../hier_prox.h"
#include "../ops.h"

namespace lassonet {
namespace {

// Features per chunk: one 64-byte cache line of each row, few enough that the chunk's
// accumulators stay in registers while the loop walks down the K rows.
template <typename scalar_t>
constexpr int chunk_width() {
  return static_cast<int>(64 / sizeof(scalar_t)) < 16 ? static_cast<int>(64 / sizeof(scalar_t)) : 16;
}

// f(0), ..., f(C - 1): one step of a pass for each feature of a chunk. With float accumulation GCC
// must not fully unroll this loop: unrolled, it is no longer a loop the vectoriser sees, and the
// active-set passes ran scalar (3x slower). With double (whose statistics pass does not vectorise)
// full unrolling is the faster scalar code, so it is left to the compiler there.
template <int C, typename A, typename F>
inline void for_each_feature(F&& f) {
#if defined(__GNUC__) && !defined(__clang__)
  if constexpr (std::is_same<A, float>::value) {
#pragma GCC unroll 1
    for (int c = 0; c < C; ++c) f(c);
    return;
  }
#endif
  for (int c = 0; c < C; ++c) f(c);
}

template <typename T>
inline void prefetch(const T* p) {
#if defined(__GNUC__)
  __builtin_prefetch(p, 0, 3);
#endif
}

// A chunk's statistics-pass state as one array per field (structure of arrays), so the per-row
// loop runs across the C features as vector lanes; load/store move one feature's state to and
// from the header's ShrunkStats.
template <int C, typename A>
struct ChunkStats {
  A sum_abs[C], sum[C], max[C], run_num[C], run_den[C];
  int32_t count[C];

  ShrunkStats<A> load(int c) const {
    ShrunkStats<A> st;
    st.sum_abs = sum_abs[c], st.sum = sum[c], st.max = max[c], st.count = count[c];
    st.run_num = run_num[c], st.run_den = run_den[c];
    return st;
  }
  void store(int c, const ShrunkStats<A>& st) {
    sum_abs[c] = st.sum_abs, sum[c] = st.sum, max[c] = st.max, count[c] = st.count;
    run_num[c] = st.run_num, run_den[c] = st.run_den;
  }
};

// Solves C adjacent features whose W entries are rows[k * row_stride + c] (unit stride across
// features) and whose theta columns start at th + c * th_col. Every pass is a walk down the rows
// with an inner loop over the C features in registers (vectorised). `next` is the next chunk's
// first row, prefetched during the first pass (rows lie on different pages once K is large, which
// the hardware prefetcher does not follow).
template <int C, typename scalar_t, typename A>
void solve_chunk(scalar_t* rows, int64_t row_stride, int64_t K, scalar_t* th, int64_t th_row,
                 int64_t th_col, int64_t m, ProxParams<A> p, const scalar_t* next) {
  A norm_v[C];
  ChunkStats<C, A> stats;
  for (int c = 0; c < C; ++c) {
    norm_v[c] = column_norm<scalar_t, A>(th + c * th_col, th_row, m);
    stats.store(c, start_stats(norm_v[c] - p.lam));
  }
  for (int64_t k = 0; k < K; ++k) {
    const scalar_t* row = rows + k * row_stride;
    if (next != nullptr) prefetch(next + k * row_stride);
    for_each_feature<C, A>([&](int c) {
      ShrunkStats<A> st = stats.load(c);
      accumulate_stats(st, static_cast<A>(row[c]), p.lam_bar, p.M);
      stats.store(c, st);
    });
  }
  RadiusSearch<A> search[C];
  A r[C], base[C], bound[C], sum[C];
  int32_t last[C], done[C], count[C];
  bool searching = false;
  for (int c = 0; c < C; ++c) {
    ShrunkStats<A> st = stats.load(c);
    finish_stats(st);
    search[c] = start_search(norm_v[c], st, p);
    r[c] = search[c].sol.r, base[c] = search[c].base, last[c] = search[c].count;
    done[c] = search[c].done;
    searching |= !search[c].done;
  }
  // Active-set rounds over the whole chunk until every feature is done (finished ones get an
  // infinite bound; their steps change nothing). The steps run as one vector loop too. The passes
  // do not track the set's smallest entry (ActiveSum::min; passed as -inf, "unknown"): it would
  // save the confirming round, but made each round about 1.5x slower here (measured, K >= 64).
  constexpr A inf = std::numeric_limits<A>::infinity();
  while (searching) {
    for_each_feature<C, A>([&](int c) {
      bound[c] = done[c] != 0 ? inf : p.M * r[c];
      sum[c] = A(0), count[c] = 0;
    });
    for (int64_t k = 0; k < K; ++k) {
      const scalar_t* row = rows + k * row_stride;
      for_each_feature<C, A>([&](int c) {
        ActiveSum<A> a;
        a.sum = sum[c], a.count = count[c];
        accumulate_active(a, static_cast<A>(row[c]), p.lam_bar, bound[c]);
        sum[c] = a.sum, count[c] = a.count;
      });
    }
    int32_t open = 0;
    for_each_feature<C, A>([&](int c) {
      search_step(r[c], last[c], done[c], base[c], p.M, sum[c], count[c], -inf);
      open |= done[c] ^ 1;
    });
    searching = open != 0;
  }
  for (int c = 0; c < C; ++c) search[c].sol.r = r[c];
  bool may_change = false;
  for (int c = 0; c < C; ++c) {
    apply_theta<scalar_t, A>(th + c * th_col, th_row, m, search[c].sol);
    bound[c] = clip_bound(search[c].sol, p);
    // With lam_bar = 0, entries already within the bound stay as they are.
    may_change |= !(p.lam_bar == A(0) && stats.max[c] <= bound[c]);
  }
  if (!may_change) return;  // leave the chunk's cache lines clean
  for (int64_t k = 0; k < K; ++k) {
    scalar_t* row = rows + k * row_stride;
    for_each_feature<C, A>([&](int c) {
      bool changed = false;
      row[c] = static_cast<scalar_t>(clipped_entry(static_cast<A>(row[c]), bound[c], p.lam_bar, changed));
    });
  }
}

template <typename scalar_t>
void hier_prox_flat(const ProxLayout& L, scalar_t* th, scalar_t* w, ProxParams<acc_t<scalar_t>> p) {
  using A = acc_t<scalar_t>;
  constexpr int C = chunk_width<scalar_t>();
  const int64_t K = L.rows, d = L.d, m = L.m;
  const int64_t w_row = L.rows_stride, w_col = L.w_col, th_row = L.th_row, th_col = L.th_col;

  // Chunks of C features when W's features are adjacent in memory (nn.Linear weights); the last
  // partial chunk, and W with other strides, go feature by feature. Both sum in index order with
  // the same per-entry math, so a feature's result does not depend on which path it took.
  const int64_t n_chunks = w_col == 1 ? d / C : 0;
  const int64_t n_tasks = n_chunks + (d - n_chunks * C);
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, K * C));
  at::parallel_for(0, n_tasks, grain, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      if (t < n_chunks) {
        const int64_t j0 = t * C;
        const scalar_t* next = t + 1 < std::min(t1, n_chunks) ? w + j0 + C : nullptr;
        solve_chunk<C, scalar_t, A>(w + j0, w_row, K, th + j0 * th_col, th_row, th_col, m, p, next);
      } else {
        const int64_t j = n_chunks * C + (t - n_chunks);
        hier_prox_feature<scalar_t, A>(th + j * th_col, th_row, m, w + j * w_col, w_row, K, p);
      }
    }
  });
}

// Groups of features (group g: features feats[ptr[g]:ptr[g+1]]), or, with feats == nullptr, every
// feature on its own (W whose K x T entries per feature are not one strided run). One task per
// group, each summing in index order with the shared header math.
template <typename scalar_t>
void hier_prox_grouped(const ProxLayout& L, scalar_t* th, scalar_t* w, const int64_t* ptr,
                       const int64_t* feats, int64_t n_groups, ProxParams<acc_t<scalar_t>> p) {
  using A = acc_t<scalar_t>;
  const int64_t per_group = std::max<int64_t>(1, (L.rows + L.m) * L.d / std::max<int64_t>(1, n_groups));
  const int64_t grain = std::max<int64_t>(1, 32768 / per_group);
  at::parallel_for(0, n_groups, grain, [&](int64_t g0, int64_t g1) {
    for (int64_t g = g0; g < g1; ++g) {
      const int64_t* cols = feats != nullptr ? feats + ptr[g] : nullptr;
      const int64_t n = feats != nullptr ? ptr[g + 1] - ptr[g] : 1;
      const Entries<scalar_t> v{th, L.m, L.th_row, 1, 0, L.th_col, cols, n, g};
      const Entries<scalar_t> wv{w, L.K, L.w_row, L.T, L.w_inner, L.w_col, cols, n, g};
      hier_prox_entries<A>(v, wv, p);
    }
  });
}

void hier_prox_cpu(const at::Tensor& theta, const at::Tensor& W, double lam, double M,
                   double lam_bar) {
  check_hier_prox_args(theta, W, lam, M, lam_bar);
  TORCH_CHECK(theta.device().is_cpu(), "hier_prox (CPU kernel): expected CPU tensors, got ",
              theta.device());
  if (theta.numel() == 0) return;  // d = 0: nothing to do
  const ProxLayout L = prox_layout(theta, W);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, W.scalar_type(), "hier_prox_cpu", [&] {
    const auto p = make_params<acc_t<scalar_t>>(lam, M, lam_bar);
    scalar_t* th = theta.data_ptr<scalar_t>();
    scalar_t* w = W.data_ptr<scalar_t>();
    if (L.flat) {
      hier_prox_flat<scalar_t>(L, th, w, p);
    } else {
      hier_prox_grouped<scalar_t>(L, th, w, nullptr, nullptr, L.d, p);
    }
  });
}

void hier_prox_group_cpu(const at::Tensor& theta, const at::Tensor& W, const at::Tensor& group_ptr,
                         const at::Tensor& group_features, double lam, double M, double lam_bar) {
  check_hier_prox_args(theta, W, lam, M, lam_bar);
  check_groups(theta, W, group_ptr, group_features);
  TORCH_CHECK(theta.device().is_cpu(), "hier_prox_group (CPU kernel): expected CPU tensors, got ",
              theta.device());
  if (theta.numel() == 0) return;
  const ProxLayout L = prox_layout(theta, W);
  const at::Tensor ptr = group_ptr.contiguous();
  const at::Tensor feats = group_features.contiguous();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, W.scalar_type(), "hier_prox_group_cpu",
                                  [&] {
    hier_prox_grouped<scalar_t>(L, theta.data_ptr<scalar_t>(), W.data_ptr<scalar_t>(),
                                ptr.data_ptr<int64_t>(), feats.data_ptr<int64_t>(),
                                ptr.size(0) - 1, make_params<acc_t<scalar_t>>(lam, M, lam_bar));
  });
}

}  // namespace

TORCH_LIBRARY_IMPL(lassonet, CPU, m) {
  m.impl("hier_prox", &hier_prox_cpu);
  m.impl("hier_prox_group", &hier_prox_group_cpu);
}

}  // namespace lassonet
