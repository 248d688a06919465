// The lassonet op library: every schema in one TORCH_LIBRARY block, the argument checks shared by
// all backends, and the Autograd kernel that lets the op update nn.Parameters in place.
#include "ops.h"

#include <ATen/MemoryOverlap.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/LegacyTypeDispatch.h>
#include <torch/library.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>

namespace lassonet {

namespace {

bool is_supported_dtype(at::ScalarType t) {
  return t == at::kFloat || t == at::kDouble || t == at::kHalf || t == at::kBFloat16;
}

void check_scalar(const char* name, double value) {
  TORCH_CHECK_VALUE(std::isfinite(value), "hier_prox: ", name,
                    " must be a finite number >= 0, got ", value);
  TORCH_CHECK_VALUE(value >= 0.0, "hier_prox: ", name, " must be >= 0, got ", value);
}

// [first, last] byte addresses a strided tensor can touch.
std::pair<uintptr_t, uintptr_t> byte_range(const at::Tensor& t) {
  int64_t lo = 0, hi = 0;
  for (int64_t i = 0; i < t.dim(); ++i) {
    const int64_t span = (t.size(i) - 1) * t.stride(i);
    (span < 0 ? lo : hi) += span;
  }
  const auto base = reinterpret_cast<uintptr_t>(t.data_ptr());
  const auto item = static_cast<int64_t>(t.element_size());
  return {base + lo * item, base + hi * item + item - 1};
}

// Exact for the common cases (separate storages, disjoint ranges, identical or dense views);
// conservative (true) for interleaved strided views of one storage, which no model produces.
bool may_overlap(const at::Tensor& a, const at::Tensor& b) {
  if (a.numel() == 0 || b.numel() == 0) return false;
  const auto status = at::get_overlap_status(a, b);
  if (status != at::MemOverlapStatus::TooHard) return status != at::MemOverlapStatus::No;
  if (!a.has_storage() || !b.has_storage() || !a.storage().is_alias_of(b.storage())) return false;
  const auto ra = byte_range(a), rb = byte_range(b);
  return ra.first <= rb.second && rb.first <= ra.second;
}

}  // namespace

void check_hier_prox_args(const at::Tensor& theta, const at::Tensor& W, double lam, double M,
                          double lam_bar) {
  check_scalar("lam", lam);
  check_scalar("M", M);
  check_scalar("lam_bar", lam_bar);
  TORCH_CHECK_VALUE(W.dim() == 2, "hier_prox: W must be a 2-D tensor of shape (K, d) (the first ",
                    "hidden layer's weight), got a ", W.dim(), "-D tensor of shape ", W.sizes());
  TORCH_CHECK_VALUE(theta.dim() == 1 || theta.dim() == 2,
                    "hier_prox: theta must be a 1-D tensor of shape (d,) or a 2-D tensor of shape ",
                    "(m, d) (the skip layer's weight), got a ", theta.dim(),
                    "-D tensor of shape ", theta.sizes());
  TORCH_CHECK_VALUE(theta.size(-1) == W.size(1),
                    "hier_prox: theta and W must have the same number of features d (theta's last ",
                    "dimension, W's second), got theta ", theta.sizes(), " and W ", W.sizes());
  TORCH_CHECK_VALUE(theta.dim() == 1 || theta.size(0) >= 1,
                    "hier_prox: theta must have at least one row (m >= 1), got shape ",
                    theta.sizes());
  TORCH_CHECK_VALUE(W.size(0) <= std::numeric_limits<int32_t>::max(),
                    "hier_prox: W may have at most 2^31 - 1 rows (hidden units), got ", W.size(0));
  TORCH_CHECK_TYPE(is_supported_dtype(theta.scalar_type()),
                   "hier_prox: theta must be float32, float64, float16 or bfloat16, got ",
                   theta.scalar_type());
  TORCH_CHECK_TYPE(theta.scalar_type() == W.scalar_type(),
                   "hier_prox: theta and W must have the same dtype, got theta ",
                   theta.scalar_type(), " and W ", W.scalar_type());
  TORCH_CHECK(theta.device() == W.device(),
              "hier_prox: theta and W must be on the same device, got theta on ", theta.device(),
              " and W on ", W.device());
  TORCH_CHECK_VALUE(at::has_internal_overlap(theta) != at::MemOverlap::Yes,
                    "hier_prox: theta must not have overlapping elements (for example an expanded ",
                    "tensor); it is written in place, pass a tensor that owns its memory");
  TORCH_CHECK_VALUE(at::has_internal_overlap(W) != at::MemOverlap::Yes,
                    "hier_prox: W must not have overlapping elements (for example an expanded ",
                    "tensor); it is written in place, pass a tensor that owns its memory");
  TORCH_CHECK_VALUE(!may_overlap(theta, W),
                    "hier_prox: theta and W must not share memory (both are written in place), ",
                    "got two overlapping views of one storage");
}

namespace {

// Autograd kernel: the prox is not differentiable and runs outside autograd, like an optimizer
// step. It lets callers pass nn.Parameters (leaf tensors that require grad) without
// torch.no_grad(), and bumps their version counters so stale saved tensors are still detected.
void hier_prox_autograd(const at::Tensor& theta, const at::Tensor& W, double lam, double M,
                        double lam_bar) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("lassonet::hier_prox", "")
                       .typed<void(const at::Tensor&, const at::Tensor&, double, double, double)>();
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    op.call(theta, W, lam, M, lam_bar);
  }
  theta.unsafeGetTensorImpl()->bump_version();
  W.unsafeGetTensorImpl()->bump_version();
}

}  // namespace

TORCH_LIBRARY(lassonet, m) {
  m.def("hier_prox(Tensor(a!) theta, Tensor(b!) W, float lam, float M, float lam_bar=0.0) -> ()");
}

TORCH_LIBRARY_IMPL(lassonet, Autograd, m) {
  m.impl("hier_prox", &hier_prox_autograd);
}

}  // namespace lassonet
