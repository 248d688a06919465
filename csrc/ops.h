// Declarations shared by the op's registration and its backend kernels.
#pragma once

#include <ATen/core/Tensor.h>

namespace lassonet {

// Validates every argument of hier_prox before any write: dtypes, devices, shapes, overlap and the
// scalars. Throws a c10::Error (ValueError/TypeError/RuntimeError in Python) that says what was
// expected and what was given.
void check_hier_prox_args(const at::Tensor& theta, const at::Tensor& W, double lam, double M,
                          double lam_bar);

}  // namespace lassonet
