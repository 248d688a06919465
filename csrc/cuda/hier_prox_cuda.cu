// CUDA kernels of lassonet::hier_prox, on the per-feature math of ../hier_prox.h.
//
// Fast path (the feature's K values fit in shared memory): a block stages a tile of kTile adjacent
// features x all K rows through shared memory with coalesced row reads, one warp solves a feature
// with warp-wide sums over its tile column (all passes of the active-set search stay on chip), and
// the tile goes back to global memory only if some W entry changed. W is read once from DRAM.
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

constexpr int kTile = 32;          // features per block in the fast path (one row = 32 values)
constexpr int kTileStride = 33;    // padded row: lanes walking down one column hit distinct banks
constexpr int kTileThreads = 256;  // 8 warps
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

template <typename scalar_t, typename A>
__global__ void hier_prox_tile_kernel(scalar_t* __restrict__ theta, scalar_t* __restrict__ W,
                                      Layout L, ProxParams<A> p) {
  extern __shared__ unsigned char smem_raw[];
  scalar_t* tile = reinterpret_cast<scalar_t*>(smem_raw);  // [K][kTileStride]
  __shared__ int any_changed;
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int n_warps = blockDim.x >> 5;
  const int64_t n_tiles = (L.d + kTile - 1) / kTile;

  for (int64_t t = blockIdx.x; t < n_tiles; t += gridDim.x) {
    const int64_t j0 = t * kTile;
    const int nf = static_cast<int>(L.d - j0 < kTile ? L.d - j0 : kTile);
    if (threadIdx.x == 0) any_changed = 0;
    for (int64_t e = threadIdx.x; e < L.K * kTile; e += blockDim.x) {
      const int64_t k = e / kTile;
      const int f = static_cast<int>(e % kTile);
      if (f < nf) tile[k * kTileStride + f] = W[k * L.w_row + (j0 + f) * L.w_col];
    }
    __syncthreads();

    for (int f = warp; f < nf; f += n_warps) {
      scalar_t* col = tile + f;
      scalar_t* v = theta + (j0 + f) * L.th_col;
      const A norm_v = column_norm<scalar_t, A>(v, L.th_row, L.m);  // same value on every lane
      // Per-lane partial statistics over rows lane, lane+32, ..., then warp-wide totals. Each
      // lane's online estimate is a lower bound on r, so their maximum is one too.
      const Entries<scalar_t> mine = column(col + lane * kTileStride, 32 * kTileStride,
                                            (L.K - lane + 31) / 32);
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
        changed |= apply_w_entry<scalar_t, A>(col + k * kTileStride, bound, p.lam_bar);
      }
      if (__any_sync(0xffffffffu, changed) && lane == 0) any_changed = 1;
      __syncwarp();  // every lane has read theta_j (column_norm) before lane 0 rewrites it
      if (lane == 0) apply_theta<scalar_t, A>(v, L.th_row, L.m, sol);
    }
    __syncthreads();

    if (any_changed) {
      for (int64_t e = threadIdx.x; e < L.K * kTile; e += blockDim.x) {
        const int64_t k = e / kTile;
        const int f = static_cast<int>(e % kTile);
        if (f < nf) W[k * L.w_row + (j0 + f) * L.w_col] = tile[k * kTileStride + f];
      }
    }
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

  const size_t tile_bytes = static_cast<size_t>(L.K) * kTileStride * sizeof(scalar_t);
  if (L.K > 0 && tile_bytes <= prop->sharedMemPerBlockOptin) {
    auto kernel = hier_prox_tile_kernel<scalar_t, A>;
    if (tile_bytes > 48 * 1024) {
      C10_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          static_cast<int>(tile_bytes)));
    }
    const int64_t n_tiles = (L.d + kTile - 1) / kTile;
    const int blocks = static_cast<int>(std::min<int64_t>(n_tiles, max_blocks()));
    kernel<<<blocks, kTileThreads, tile_bytes, stream>>>(th, w, L, p);
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
