// CUDA kernels of lassonet::hier_prox, on the per-feature math of ../hier_prox.h.
//
// Fast path (the feature's K values fit in shared memory): a block stages a tile of adjacent
// features x all K rows through shared memory with coalesced row reads, solves every feature of the
// tile on chip (all passes of the active-set search read shared memory), and writes the tile back
// only if some W entry changed: W is read once from DRAM. For K <= 64 a thread solves a feature
// with the sequential header code (128 features per tile); for larger K a warp solves a feature
// with warp-wide sums (tile rows of 128 bytes, narrower for large K so that 3 tiles share an SM).
// General path (any K): one thread per feature runs the sequential header code directly on global
// memory; adjacent threads own adjacent features, so every pass reads coalesced rows.
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <algorithm>

#include "../hier_prox.h"
#include "../ops.h"

namespace lassonet {
namespace {

constexpr int kMaxTile = 32;       // features per block at most (one warp solves one feature)
constexpr int kTileBytes = 128;    // a tile row: one 128-byte line of W, or less for large K
constexpr int kMinTileBytes = 32;  // ... but at least one 32-byte DRAM sector
constexpr int kLoadBatch = 8;      // independent loads per thread in flight while staging a tile
constexpr int kThreadPerFeatureMaxK = 64;  // up to here a thread solves a feature, else a warp
constexpr int kThreadTile = 128;           // features (= threads) per block when a thread does
constexpr int kMaxTileThreads = 256;  // with 3 blocks per SM: at most 85 registers
constexpr int kColumnThreads = 128;

struct Layout {
  int64_t K, d, m;
  int64_t w_row, w_col;    // strides of W (K, d)
  int64_t th_row, th_col;  // strides of theta (m, d); th_row unused when m == 1
};

template <typename A>
__device__ __forceinline__ A warp_sum(A x) {
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;  // xor butterfly: every lane ends with the bitwise-same value
}

template <typename A>
__device__ __forceinline__ A warp_max(A x) {
  for (int o = 16; o > 0; o >>= 1) {
    const A y = __shfl_xor_sync(0xffffffffu, x, o);
    x = y > x ? y : x;
  }
  return x;
}

template <typename A>
__device__ __forceinline__ A warp_min(A x) {
  for (int o = 16; o > 0; o >>= 1) {
    const A y = __shfl_xor_sync(0xffffffffu, x, o);
    x = y < x ? y : x;
  }
  return x;
}

// Copies a tile (K rows x nf features, row stride `stride` in shared memory) between global and
// shared memory: each warp moves whole tile rows, kLoadBatch of them per step, so every thread has
// kLoadBatch independent global loads in flight (DRAM latency is what limits the staging).
template <bool kToShared, typename scalar_t>
__device__ __forceinline__ void copy_tile(scalar_t* __restrict__ tile, scalar_t* __restrict__ W,
                                          const Layout& L, int64_t j0, int tile_f, int nf) {
  const int stride = tile_f + 1;
  // tile_f divides 32 (blockDim.x is a multiple of 32) or equals blockDim.x
  const int rows_per_step = blockDim.x / tile_f;
  const int f = threadIdx.x % tile_f;
  const int64_t k_first = threadIdx.x / tile_f;
  if (f >= nf) return;
  scalar_t* g = W + (j0 + f) * L.w_col;
  for (int64_t k0 = k_first; k0 < L.K; k0 += static_cast<int64_t>(rows_per_step) * kLoadBatch) {
    scalar_t v[kLoadBatch];
#pragma unroll
    for (int u = 0; u < kLoadBatch; ++u) {
      const int64_t k = k0 + static_cast<int64_t>(u) * rows_per_step;
      if (k < L.K) v[u] = kToShared ? g[k * L.w_row] : tile[k * stride + f];
    }
#pragma unroll
    for (int u = 0; u < kLoadBatch; ++u) {
      const int64_t k = k0 + static_cast<int64_t>(u) * rows_per_step;
      if (k < L.K) {
        if (kToShared) {
          tile[k * stride + f] = v[u];
        } else {
          g[k * L.w_row] = v[u];
        }
      }
    }
  }
}

// One block per tile of tile_f adjacent features x all K rows, staged in shared memory (rows padded
// by one element: lanes walking down one column hit distinct banks); one warp per feature, or one
// thread per feature when K is small.
template <typename scalar_t, typename A>
__global__ void __launch_bounds__(kMaxTileThreads, 3)
    hier_prox_tile_kernel(scalar_t* __restrict__ theta, scalar_t* __restrict__ W, Layout L,
                          ProxParams<A> p, int tile_f, bool thread_per_feature) {
  extern __shared__ unsigned char smem_raw[];
  scalar_t* tile = reinterpret_cast<scalar_t*>(smem_raw);  // [K][tile_f + 1]
  __shared__ int any_changed;
  const int stride = tile_f + 1;
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int n_warps = blockDim.x >> 5;
  const int64_t n_tiles = (L.d + tile_f - 1) / tile_f;

  for (int64_t t = blockIdx.x; t < n_tiles; t += gridDim.x) {
    const int64_t j0 = t * tile_f;
    const int nf = static_cast<int>(L.d - j0 < tile_f ? L.d - j0 : tile_f);
    if (threadIdx.x == 0) any_changed = 0;
    copy_tile<true>(tile, W, L, j0, tile_f, nf);
    __syncthreads();

    if (thread_per_feature) {
      // Small K: thread f runs the sequential header code on its column of the tile (lanes read
      // adjacent addresses, no warp reductions), tile_f == blockDim.x features at once.
      const int f = threadIdx.x;
      if (f < nf && hier_prox_feature<scalar_t, A>(theta + (j0 + f) * L.th_col, L.th_row, L.m,
                                                    tile + f, stride, L.K, p)) {
        any_changed = 1;
      }
    } else {
      for (int f = warp; f < nf; f += n_warps) {
        scalar_t* col = tile + f;
        scalar_t* v = theta + (j0 + f) * L.th_col;
        const A norm_v = column_norm<scalar_t, A>(v, L.th_row, L.m);  // same value on every lane
        // Per-lane partial statistics over rows lane, lane+32, ..., then warp-wide totals. Each
        // lane's online estimate is a lower bound on r, so their maximum is one too.
        const Entries<scalar_t> mine = column(col + lane * stride, 32 * stride, (L.K - lane + 31) / 32);
        ShrunkStats<A> st = entries_stats<A>(mine, p.lam_bar, norm_v - p.lam, p.M);
        st.sum_abs = warp_sum(st.sum_abs);
        st.sum = warp_sum(st.sum);
        st.count = warp_sum(st.count);
        st.max = warp_max(st.max);
        st.lower = warp_max(st.lower);
        auto active = [&](A bound) {
          ActiveSum<A> a = entries_active<A>(mine, p.lam_bar, bound);
          a.sum = warp_sum(a.sum);
          a.count = warp_sum(a.count);
          a.min = warp_min(a.min);
          return a;
        };
        const FeatureRadius<A> sol = radius_from_stats<A>(norm_v, st, p, active);
        const A bound = clip_bound(sol, p);
        bool changed = false;
        for (int64_t k = lane; k < L.K; k += 32) {
          changed |= apply_w_entry<scalar_t, A>(col + k * stride, bound, p.lam_bar);
        }
        if (__any_sync(0xffffffffu, changed) && lane == 0) any_changed = 1;
        __syncwarp();  // every lane has read theta_j (column_norm) before lane 0 rewrites it
        if (lane == 0) apply_theta<scalar_t, A>(v, L.th_row, L.m, sol);
      }
    }
    __syncthreads();

    if (any_changed) copy_tile<false>(tile, W, L, j0, tile_f, nf);
    __syncthreads();  // the tile is reused by the next iteration
  }
}

template <typename scalar_t, typename A>
__global__ void hier_prox_column_kernel(scalar_t* __restrict__ theta, scalar_t* __restrict__ W,
                                        Layout L, ProxParams<A> p) {
  for (int64_t j = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; j < L.d;
       j += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    hier_prox_feature<scalar_t, A>(theta + j * L.th_col, L.th_row, L.m, W + j * L.w_col, L.w_row,
                                   L.K, p);
  }
}

// General path for groups (group g: features feats[ptr[g]:ptr[g+1]]) and for W whose K x T
// entries per feature are not one strided run (feats == nullptr: every feature alone): one thread
// per group on global memory, the sequential header code.
template <typename scalar_t, typename A>
__global__ void hier_prox_group_kernel(scalar_t* __restrict__ theta, scalar_t* __restrict__ W,
                                       ProxLayout L, const int64_t* __restrict__ ptr,
                                       const int64_t* __restrict__ feats, int64_t n_groups,
                                       ProxParams<A> p) {
  for (int64_t g = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; g < n_groups;
       g += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t* cols = feats != nullptr ? feats + ptr[g] : nullptr;
    const int64_t n = feats != nullptr ? ptr[g + 1] - ptr[g] : 1;
    const Entries<scalar_t> v{theta, L.m, L.th_row, 1, 0, L.th_col, cols, n, g};
    const Entries<scalar_t> w{W, L.K, L.w_row, L.T, L.w_inner, L.w_col, cols, n, g};
    hier_prox_entries<A>(v, w, p);
  }
}

int max_blocks() {
  return at::cuda::getCurrentDeviceProperties()->multiProcessorCount * 32;
}

struct TilePlan {
  int features = 0;  // 0: no tile fits in shared memory, use the column kernel
  int threads = 0;
  size_t smem = 0;
  bool thread_per_feature = false;
};

// Small K: a thread per feature. Else the widest tile (a row of up to kTileBytes) that lets
// kBlocksPerSM blocks share an SM, so one block's staging overlaps another's solving; else narrower
// rows, down to one DRAM sector; else none (the column kernel). Threads: about kLoadBatch tile
// entries each.
TilePlan plan_tile(int64_t K, size_t elem, const cudaDeviceProp& prop) {
  constexpr size_t kBlocksPerSM = 3;
  constexpr size_t kReservedPerBlock = 2048;  // the runtime's per-block reserve and any_changed
  auto bytes = [&](int f) { return static_cast<size_t>(K) * (f + 1) * elem; };
  TilePlan plan;
  if (K == 0) return plan;
  if (K <= kThreadPerFeatureMaxK) {  // a thread per feature, kThreadTile features per block
    // (64 KB per block on sm_75 is less than float64's 66 KB at K = 64: the column kernel then)
    if (bytes(kThreadTile) > prop.sharedMemPerBlockOptin) return plan;
    plan.features = plan.threads = kThreadTile;
    plan.smem = bytes(kThreadTile);
    plan.thread_per_feature = true;
    return plan;
  }
  const int widest = std::min<int>(kMaxTile, static_cast<int>(kTileBytes / elem));
  const int narrowest = std::max<int>(1, static_cast<int>(kMinTileBytes / elem));
  int f = widest;
  while (f > narrowest && kBlocksPerSM * (bytes(f) + kReservedPerBlock) > prop.sharedMemPerMultiprocessor) {
    f /= 2;
  }
  if (bytes(f) > prop.sharedMemPerBlockOptin) return plan;
  plan.features = f;
  plan.smem = bytes(f);
  const int64_t warps = (K * f / kLoadBatch + 31) / 32;
  plan.threads = 32 * static_cast<int>(std::min<int64_t>(std::max<int64_t>(warps, 4), kMaxTileThreads / 32));
  return plan;
}

template <typename scalar_t>
void launch_flat(const ProxLayout& PL, scalar_t* th, scalar_t* w, ProxParams<acc_t<scalar_t>> p) {
  using A = acc_t<scalar_t>;
  Layout L;
  L.K = PL.rows;
  L.d = PL.d;
  L.m = PL.m;
  L.w_row = PL.rows_stride;
  L.w_col = PL.w_col;
  L.th_row = PL.th_row;
  L.th_col = PL.th_col;
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const cudaDeviceProp* prop = at::cuda::getCurrentDeviceProperties();

  const TilePlan plan = plan_tile(L.K, sizeof(scalar_t), *prop);
  if (plan.features > 0) {
    auto kernel = hier_prox_tile_kernel<scalar_t, A>;
    C10_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        static_cast<int>(plan.smem)));
    // Shared memory over L1: W passes through once, so several tiles per SM pay more than L1.
    C10_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout,
                                        cudaSharedmemCarveoutMaxShared));
    const int64_t n_tiles = (L.d + plan.features - 1) / plan.features;
    const int blocks = static_cast<int>(std::min<int64_t>(n_tiles, max_blocks()));
    kernel<<<blocks, plan.threads, plan.smem, stream>>>(th, w, L, p, plan.features,
                                                        plan.thread_per_feature);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return;
  }
  const int blocks = static_cast<int>(
      std::min<int64_t>((L.d + kColumnThreads - 1) / kColumnThreads, max_blocks()));
  hier_prox_column_kernel<scalar_t, A><<<blocks, kColumnThreads, 0, stream>>>(th, w, L, p);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

template <typename scalar_t>
void launch_grouped(const ProxLayout& L, scalar_t* th, scalar_t* w, const int64_t* ptr,
                    const int64_t* feats, int64_t n_groups, ProxParams<acc_t<scalar_t>> p) {
  if (n_groups == 0) return;
  const int blocks = static_cast<int>(
      std::min<int64_t>((n_groups + kColumnThreads - 1) / kColumnThreads, max_blocks()));
  hier_prox_group_kernel<scalar_t, acc_t<scalar_t>>
      <<<blocks, kColumnThreads, 0, at::cuda::getCurrentCUDAStream()>>>(th, w, L, ptr, feats,
                                                                         n_groups, p);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

void hier_prox_cuda(const at::Tensor& theta, const at::Tensor& W, double lam, double M,
                    double lam_bar) {
  check_hier_prox_args(theta, W, lam, M, lam_bar);
  TORCH_CHECK(theta.is_cuda(), "hier_prox (CUDA kernel): expected CUDA tensors, got ",
              theta.device());
  if (theta.numel() == 0) return;  // d = 0: nothing to do
  const c10::cuda::CUDAGuard guard(W.device());
  const ProxLayout L = prox_layout(theta, W);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, W.scalar_type(), "hier_prox_cuda", [&] {
    const auto p = make_params<acc_t<scalar_t>>(lam, M, lam_bar);
    scalar_t* th = theta.data_ptr<scalar_t>();
    scalar_t* w = W.data_ptr<scalar_t>();
    if (L.flat) {
      launch_flat<scalar_t>(L, th, w, p);
    } else {
      launch_grouped<scalar_t>(L, th, w, nullptr, nullptr, L.d, p);
    }
  });
}

void hier_prox_group_cuda(const at::Tensor& theta, const at::Tensor& W, const at::Tensor& group_ptr,
                          const at::Tensor& group_features, double lam, double M, double lam_bar) {
  check_hier_prox_args(theta, W, lam, M, lam_bar);
  check_groups(theta, W, group_ptr, group_features);  // copies the indices to the host
  TORCH_CHECK(theta.is_cuda(), "hier_prox_group (CUDA kernel): expected CUDA tensors, got ",
              theta.device());
  if (theta.numel() == 0) return;
  const c10::cuda::CUDAGuard guard(W.device());
  const ProxLayout L = prox_layout(theta, W);
  const at::Tensor ptr = group_ptr.contiguous();
  const at::Tensor feats = group_features.contiguous();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, W.scalar_type(), "hier_prox_group_cuda",
                                  [&] {
    launch_grouped<scalar_t>(L, theta.data_ptr<scalar_t>(), W.data_ptr<scalar_t>(),
                             ptr.data_ptr<int64_t>(), feats.data_ptr<int64_t>(), ptr.size(0) - 1,
                             make_params<acc_t<scalar_t>>(lam, M, lam_bar));
  });
}

}  // namespace

TORCH_LIBRARY_IMPL(lassonet, CUDA, m) {
  m.impl("hier_prox", &hier_prox_cuda);
  m.impl("hier_prox_group", &hier_prox_group_cuda);
}

}  // namespace lassonet
