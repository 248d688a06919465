// CPU kernel of lassonet::hier_prox.
//
// A column of a row-major (K, d) weight is strided by d, so the kernel works on chunks of adjacent
// features and walks their rows: every pass over a chunk (statistics, each round of the active-set
// search, the write) is a loop over rows whose inner loop runs across the chunk's features in
// registers, reading contiguous memory and vectorising (chunk_solver.h); up to 64 rows a chunk is
// sorted instead (solve_chunk_sorted). Each feature still computes in a fixed order with the shared
// per-feature math of hier_prox.h, so results equal the lone-feature path bit for bit and do not
// depend on the thread count or on the instruction set the chunks ran with (baseline, AVX2 or
// AVX-512: no FMA contraction, same operations lane by lane).
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "../hier_prox.h"
#include "../ops.h"
#include "chunk_solver.h"

namespace lassonet {
namespace {

// Which copy of the chunk solver runs: the widest this CPU has (AVX-512, AVX2, the baseline),
// unless the environment variable LASSONET_CPU_CAPABILITY asks for a narrower one ("avx2" or
// "default", as ATen's ATEN_CPU_CAPABILITY; the tests compare them). Decided once per process.
enum class ChunkIsa { baseline, avx2, avx512 };

ChunkIsa chunk_isa() {
  static const ChunkIsa isa = [] {
    const char* env = std::getenv("LASSONET_CPU_CAPABILITY");
    const bool at_most_avx2 = env != nullptr && std::strcmp(env, "avx2") == 0;
    if (env != nullptr && std::strcmp(env, "default") == 0) return ChunkIsa::baseline;
    if (!at_most_avx2 && avx512_chunks_available()) return ChunkIsa::avx512;
    return avx2_chunks_available() ? ChunkIsa::avx2 : ChunkIsa::baseline;
  }();
  return isa;
}

// solve_features with the copy chunk_isa() picks (float and double; 16-bit types always run the
// baseline).
template <typename scalar_t>
void solve_features_fastest(const ChunkJob<scalar_t>& job, int64_t j0, int64_t j1) {
  if constexpr (std::is_same<scalar_t, float>::value || std::is_same<scalar_t, double>::value) {
    switch (chunk_isa()) {
      case ChunkIsa::avx512: return solve_features_avx512(job, j0, j1);
      case ChunkIsa::avx2: return solve_features_avx2(job, j0, j1);
      case ChunkIsa::baseline: break;
    }
  }
  solve_features(job, j0, j1);
}

template <typename scalar_t>
void hier_prox_flat(const ProxLayout& L, scalar_t* th, scalar_t* w, double lam, double M,
                    double lam_bar) {
  using A = acc_t<scalar_t>;
  const int64_t K = L.rows, d = L.d, m = L.m;
  const int64_t w_row = L.rows_stride, w_col = L.w_col, th_row = L.th_row, th_col = L.th_col;
  if (w_col != 1) {  // W's features are not adjacent in memory: feature by feature
    const ProxParams<A> p = make_params<A>(lam, M, lam_bar);
    const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, K));
    at::parallel_for(0, d, grain, [&](int64_t j0, int64_t j1) {
      for (int64_t j = j0; j < j1; ++j) {
        hier_prox_feature<scalar_t, A>(th + j * th_col, th_row, m, w + j * w_col, w_row, K, p);
      }
    });
    return;
  }
  // Threads take spans of adjacent features, a multiple of every build's chunk width, which each
  // solves as chunks (solve_features).
  constexpr int64_t kSpan = 32;
  const int64_t n_spans = (d + kSpan - 1) / kSpan;
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, K * kSpan));
  const ChunkJob<scalar_t> job{w, w_row, K, th, th_row, th_col, m, lam, M, lam_bar};
  at::parallel_for(0, n_spans, grain, [&](int64_t s0, int64_t s1) {
    solve_features_fastest(job, s0 * kSpan, std::min(s1 * kSpan, d));
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
    scalar_t* th = theta.data_ptr<scalar_t>();
    scalar_t* w = W.data_ptr<scalar_t>();
    if (L.flat) {
      hier_prox_flat<scalar_t>(L, th, w, lam, M, lam_bar);
    } else {
      hier_prox_grouped<scalar_t>(L, th, w, nullptr, nullptr, L.d,
                                  make_params<acc_t<scalar_t>>(lam, M, lam_bar));
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
