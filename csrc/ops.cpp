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
#include <algorithm>
#include <tuple>
#include <utility>
#include <vector>

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

// The product T of W's trailing dimensions and the stride that walks them as one run. The kernels
// see W[:, j, ...] as K x T values; trailing dimensions that do not merge (an odd permutation) are
// rejected rather than copied, because the op writes in place.
std::pair<int64_t, int64_t> trailing_run(const at::Tensor& W) {
  int64_t T = 1, inner = 1;
  bool first = true;
  for (int64_t i = W.dim() - 1; i >= 2; --i) {
    if (W.size(i) == 0) return {0, 1};
    if (W.size(i) == 1) continue;
    if (first) {
      inner = W.stride(i);
      first = false;
    } else {
      TORCH_CHECK_VALUE(W.stride(i) == inner * T,
                        "hier_prox: W's trailing dimensions (after K and d) must be laid out as ",
                        "one strided run, as in a contiguous or channels_last tensor; got shape ",
                        W.sizes(), " with strides ", W.strides(), ". Pass W.contiguous() and ",
                        "copy the result back");
    }
    T *= W.size(i);
  }
  return {T, inner};
}

}  // namespace

void check_hier_prox_args(const at::Tensor& theta, const at::Tensor& W, double lam, double M,
                          double lam_bar) {
  check_scalar("lam", lam);
  check_scalar("M", M);
  check_scalar("lam_bar", lam_bar);
  TORCH_CHECK_VALUE(W.dim() >= 2, "hier_prox: W must be a tensor of shape (K, d) (the first ",
                    "hidden layer's weight) or (K, d, ...) (a convolution's weight), got a ",
                    W.dim(), "-D tensor of shape ", W.sizes());
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
  const int64_t per_feature = W.size(1) == 0 ? 0 : W.numel() / W.size(1);
  TORCH_CHECK_VALUE(per_feature <= std::numeric_limits<int32_t>::max(),
                    "hier_prox: each feature may have at most 2^31 - 1 entries in W, got W of shape ",
                    W.sizes());
  trailing_run(W);  // W's trailing dimensions must form one strided run
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

ProxLayout prox_layout(const at::Tensor& theta, const at::Tensor& W) {
  ProxLayout L;
  L.d = W.size(1);
  L.m = theta.dim() == 2 ? theta.size(0) : 1;
  L.th_row = theta.dim() == 2 ? theta.stride(0) : 0;
  L.th_col = theta.stride(-1);
  L.K = W.size(0);
  std::tie(L.T, L.w_inner) = trailing_run(W);
  L.w_row = W.stride(0);
  L.w_col = W.stride(1);
  L.rows = L.K * L.T;
  L.flat = L.T <= 1 || L.K == 1 || L.w_row == L.T * L.w_inner;
  L.rows_stride = L.T == 1 ? L.w_row : L.w_inner;
  return L;
}

int64_t check_groups(const at::Tensor& theta, const at::Tensor& W, const at::Tensor& group_ptr,
                     const at::Tensor& group_features) {
  const int64_t d = W.size(1);
  for (const auto& pair : {std::make_pair("group_ptr", &group_ptr),
                           std::make_pair("group_features", &group_features)}) {
    const at::Tensor& t = *pair.second;
    TORCH_CHECK_TYPE(t.scalar_type() == at::kLong, "hier_prox_group: ", pair.first,
                     " must be an int64 tensor, got ", t.scalar_type());
    TORCH_CHECK_VALUE(t.dim() == 1, "hier_prox_group: ", pair.first, " must be 1-D, got shape ",
                      t.sizes());
    TORCH_CHECK(t.device() == theta.device(), "hier_prox_group: ", pair.first,
                " must be on theta's device ", theta.device(), ", got ", t.device());
  }
  TORCH_CHECK_VALUE(group_ptr.size(0) >= 1, "hier_prox_group: group_ptr must have G + 1 >= 1 ",
                    "entries (offsets of each group in group_features), got none");
  TORCH_CHECK_VALUE(group_features.size(0) == d, "hier_prox_group: group_features must list each ",
                    "of the d = ", d, " features once, got ", group_features.size(0), " entries");
  const at::Tensor ptr = group_ptr.cpu().contiguous();
  const at::Tensor feats = group_features.cpu().contiguous();
  const int64_t* p = ptr.data_ptr<int64_t>();
  const int64_t* f = feats.data_ptr<int64_t>();
  const int64_t G = ptr.size(0) - 1;
  TORCH_CHECK_VALUE(p[0] == 0 && p[G] == d, "hier_prox_group: group_ptr must start at 0 and end ",
                    "at d = ", d, ", got ", p[0], " and ", p[G]);
  int64_t largest = 0;
  for (int64_t g = 0; g < G; ++g) {
    TORCH_CHECK_VALUE(p[g + 1] >= p[g], "hier_prox_group: group_ptr must be non-decreasing, got ",
                      p[g], " then ", p[g + 1], " at position ", g);
    largest = std::max(largest, p[g + 1] - p[g]);
  }
  std::vector<char> seen(static_cast<size_t>(d), 0);
  for (int64_t i = 0; i < d; ++i) {
    TORCH_CHECK_VALUE(f[i] >= 0 && f[i] < d, "hier_prox_group: group_features must hold feature ",
                      "indices in [0, ", d, "), got ", f[i], " at position ", i);
    TORCH_CHECK_VALUE(!seen[f[i]], "hier_prox_group: the groups must partition the features, ",
                      "but feature ", f[i], " appears twice");
    seen[f[i]] = 1;
  }
  const int64_t per_feature = d == 0 ? 0 : W.numel() / d;
  TORCH_CHECK_VALUE(largest * per_feature <= std::numeric_limits<int32_t>::max(),
                    "hier_prox_group: a group may have at most 2^31 - 1 entries in W, the largest ",
                    "has ", largest, " features of ", per_feature, " entries");
  return largest;
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

void hier_prox_group_autograd(const at::Tensor& theta, const at::Tensor& W,
                              const at::Tensor& group_ptr, const at::Tensor& group_features,
                              double lam, double M, double lam_bar) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("lassonet::hier_prox_group", "")
                       .typed<void(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                   const at::Tensor&, double, double, double)>();
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    op.call(theta, W, group_ptr, group_features, lam, M, lam_bar);
  }
  theta.unsafeGetTensorImpl()->bump_version();
  W.unsafeGetTensorImpl()->bump_version();
}

}  // namespace

TORCH_LIBRARY(lassonet, m) {
  m.def("hier_prox(Tensor(a!) theta, Tensor(b!) W, float lam, float M, float lam_bar=0.0) -> ()");
  // Groups of features in CSR form: group g is features group_features[group_ptr[g]:group_ptr[g+1]].
  m.def("hier_prox_group(Tensor(a!) theta, Tensor(b!) W, Tensor group_ptr, Tensor group_features, "
        "float lam, float M, float lam_bar=0.0) -> ()");
  // The path trainer's full-batch epoch from the logits to the last hidden layer (CPU only):
  // validation cross-entropy, G = [d loss/d out; d loss/d pre-activation] over the n training
  // columns, and the head's and the hidden layer's bias gradients (cross_entropy_tail_cpu.cpp).
  m.def("cross_entropy_tail(Tensor out, Tensor hidden, Tensor head_weight, Tensor y, Tensor y_val, "
        "Tensor? weight, int n) -> (Tensor val_loss, Tensor G, Tensor head_weight_grad, "
        "Tensor head_bias_grad, Tensor hidden_bias_grad)");
}

TORCH_LIBRARY_IMPL(lassonet, Autograd, m) {
  m.impl("hier_prox", &hier_prox_autograd);
  m.impl("hier_prox_group", &hier_prox_group_autograd);
}

}  // namespace lassonet
