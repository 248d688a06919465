// Declarations shared by the op's registration and its backend kernels.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace lassonet {

// Validates every argument of hier_prox before any write: dtypes, devices, shapes, overlap and the
// scalars. Throws a c10::Error (ValueError/TypeError/RuntimeError in Python) that says what was
// expected and what was given.
void check_hier_prox_args(const at::Tensor& theta, const at::Tensor& W, double lam, double M,
                          double lam_bar);

// hier_prox_group's extra checks (after check_hier_prox_args): group_ptr (G + 1) and
// group_features (d) are int64 on theta's device, and the groups partition the d features.
// Returns the largest group's size. CUDA index tensors are copied to the host for the check.
int64_t check_groups(const at::Tensor& theta, const at::Tensor& W, const at::Tensor& group_ptr,
                     const at::Tensor& group_features);

// Where the kernels find feature j's entries:
//   theta[i, j] at j * th_col + i * th_row  (i < m)
//   W[k, j, t]  at j * w_col + k * w_row + t * w_inner  (k < K, t < T; T = prod of W's trailing
//   dimensions, 1 for a 2-D W).
// When the K x T entries of a feature are one strided run (T == 1, K == 1, or w_row == T * w_inner)
// `flat` is set and they are the `rows` values at stride `rows_stride`: the 2-D kernels apply.
struct ProxLayout {
  int64_t d, m, th_row, th_col;
  int64_t K, T, w_row, w_inner, w_col;
  bool flat;
  int64_t rows, rows_stride;
};

ProxLayout prox_layout(const at::Tensor& theta, const at::Tensor& W);

}  // namespace lassonet
