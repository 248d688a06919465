// CPU kernel of lassonet::cross_entropy_tail: the path trainer's full-batch epoch from the network's
// output to the last hidden layer's pre-activation, in one call.
//
// Samples run along columns (the trainer's layout): out (m, N) holds the logits of the n training
// columns, then the N - n validation ones; hidden (K, N) the last hidden layer after its ReLU. The
// call returns the cross-entropy over the validation columns and the training loss's gradients:
// G (m + K, n), whose first m rows are d loss / d out and last K rows d loss / d pre-activation (a
// single buffer, so the first layer's gradient is one product G @ x with no concatenation), and the
// head's weight and bias gradients and the hidden layer's bias gradient. torch's log_softmax, exp
// and matrix products do the heavy parts (called from here); the one-hot step, the ReLU's backward
// and the bias gradients' sums are fused passes by hand. What the kernel saves is some twenty
// Python-level calls per epoch and four passes over the gradients.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <cstdint>
#include <optional>
#include <tuple>

namespace lassonet {
namespace {

// A row's sum in 16 independent lanes (so the compiler vectorises it without reassociating),
// then the lanes in order: deterministic, whatever the thread count.
template <typename T>
T row_sum(const T* x, int64_t len) {
  constexpr int kLanes = 16;
  T lane[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= len; j += kLanes) {
    for (int l = 0; l < kLanes; ++l) lane[l] += x[j + l];
  }
  T sum = 0;
  for (int l = 0; l < kLanes; ++l) sum += lane[l];
  for (; j < len; ++j) sum += x[j];
  return sum;
}

void check_args(const at::Tensor& out, const at::Tensor& hidden, const at::Tensor& head_weight,
                const at::Tensor& y, const at::Tensor& y_val,
                const std::optional<at::Tensor>& weight, int64_t n) {
  TORCH_CHECK_VALUE(out.dim() == 2 && hidden.dim() == 2 && head_weight.dim() == 2,
                    "cross_entropy_tail: out (m, N), hidden (K, N) and head_weight (m, K) must be ",
                    "2-D, got ", out.dim(), "-D, ", hidden.dim(), "-D and ", head_weight.dim(), "-D");
  const int64_t m = out.size(0), N = out.size(1), K = hidden.size(0);
  TORCH_CHECK_VALUE(m > 0, "cross_entropy_tail: out must have at least one class row");
  TORCH_CHECK_VALUE(hidden.size(1) == N && head_weight.size(0) == m && head_weight.size(1) == K,
                    "cross_entropy_tail: expected hidden (K, ", N, ") and head_weight (", m,
                    ", K), got ", hidden.sizes(), " and ", head_weight.sizes());
  TORCH_CHECK_VALUE(n >= 0 && n <= N, "cross_entropy_tail: n must be in [0, ", N, "], got ", n);
  TORCH_CHECK_TYPE(out.scalar_type() == at::kFloat || out.scalar_type() == at::kDouble,
                   "cross_entropy_tail: out must be float32 or float64, got ", out.scalar_type());
  TORCH_CHECK_TYPE(hidden.scalar_type() == out.scalar_type() &&
                       head_weight.scalar_type() == out.scalar_type(),
                   "cross_entropy_tail: hidden and head_weight must have out's dtype ",
                   out.scalar_type(), ", got ", hidden.scalar_type(), " and ",
                   head_weight.scalar_type());
  TORCH_CHECK_TYPE(y.scalar_type() == at::kLong && y_val.scalar_type() == at::kLong,
                   "cross_entropy_tail: y and y_val must be int64 class indices, got ",
                   y.scalar_type(), " and ", y_val.scalar_type());
  TORCH_CHECK_VALUE(y.dim() == 1 && y.size(0) == n && y_val.dim() == 1 && y_val.size(0) == N - n,
                    "cross_entropy_tail: expected y (", n, ",) and y_val (", N - n, ",), got ",
                    y.sizes(), " and ", y_val.sizes());
  if (weight.has_value()) {
    TORCH_CHECK_VALUE(weight->dim() == 1 && weight->size(0) == m,
                      "cross_entropy_tail: weight must be (", m, ",), got ", weight->sizes());
    TORCH_CHECK_TYPE(weight->scalar_type() == out.scalar_type(),
                     "cross_entropy_tail: weight must have out's dtype ", out.scalar_type(),
                     ", got ", weight->scalar_type());
  }
  for (const at::Tensor* t : {&out, &hidden, &head_weight, &y, &y_val}) {
    TORCH_CHECK(t->device().is_cpu(), "cross_entropy_tail (CPU kernel): expected CPU tensors, got ",
                t->device());
  }
  for (const at::Tensor* labels : {&y, &y_val}) {
    const at::Tensor c = labels->contiguous();
    const int64_t* p = c.data_ptr<int64_t>();
    for (int64_t j = 0; j < c.numel(); ++j) {
      TORCH_CHECK_INDEX(p[j] >= 0 && p[j] < m, "cross_entropy_tail: class index ", p[j],
                        " at position ", j, " is out of range for ", m, " classes");
    }
  }
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> cross_entropy_tail_cpu(
    const at::Tensor& out_in, const at::Tensor& hidden_in, const at::Tensor& head_weight,
    const at::Tensor& y_in, const at::Tensor& y_val_in, const std::optional<at::Tensor>& weight_in,
    int64_t n) {
  check_args(out_in, hidden_in, head_weight, y_in, y_val_in, weight_in, n);
  const at::Tensor out = out_in.contiguous(), hidden = hidden_in.contiguous();
  const at::Tensor y = y_in.contiguous(), y_val = y_val_in.contiguous();
  const at::Tensor weight = weight_in.has_value() ? weight_in->contiguous() : at::Tensor();
  const int64_t m = out.size(0), N = out.size(1), K = hidden.size(0), n_val = N - n;

  // One log-softmax over the whole block (torch runs it in parallel only on a contiguous tensor).
  const at::Tensor logp = at::log_softmax(out, 0);
  at::Tensor G = at::empty({m + K, n}, out.options());
  at::Tensor g_out = G.narrow(0, 0, m), g_pre = G.narrow(0, m, K);  // contiguous row blocks
  at::exp_out(g_out, logp.narrow(1, 0, n));  // the training columns' softmax
  at::Tensor val_loss;
  at::Tensor head_weight_grad = at::empty({m, K}, out.options());
  at::Tensor head_bias_grad = at::empty({m}, out.options());
  at::Tensor hidden_bias_grad = at::empty({K}, out.options());
  AT_DISPATCH_FLOATING_TYPES(out.scalar_type(), "cross_entropy_tail_cpu", [&] {
    const scalar_t* lp = logp.const_data_ptr<scalar_t>();
    const int64_t* yv = y_val.const_data_ptr<int64_t>();
    const int64_t* yt = y.const_data_ptr<int64_t>();
    const scalar_t* w = weight.defined() ? weight.const_data_ptr<scalar_t>() : nullptr;
    // torch's weighted mean (F.nll_loss): sum_j w[y_j] (-log p_j) / sum_j w[y_j]; NaN without
    // validation columns, as torch's mean over nothing.
    double num = 0.0, den = 0.0;
    for (int64_t j = 0; j < n_val; ++j) {
      const double wj = w ? static_cast<double>(w[yv[j]]) : 1.0;
      num -= wj * static_cast<double>(lp[yv[j] * N + n + j]);
      den += wj;
    }
    val_loss = at::scalar_tensor(num / den, out.options());
    // Each training sample's weight in the mean: 1/n, or w[y_j] / sum of the training weights.
    double total = static_cast<double>(n);
    if (w) {
      total = 0.0;
      for (int64_t j = 0; j < n; ++j) total += static_cast<double>(w[yt[j]]);
    }
    const scalar_t inv_total = static_cast<scalar_t>(1.0 / total);
    scalar_t* g = g_out.data_ptr<scalar_t>();
    // d loss / d out = (softmax - one-hot of y) times the sample's weight in the mean; the head's
    // bias gradient is its row sums.
    for (int64_t j = 0; j < n; ++j) g[yt[j] * n + j] -= scalar_t(1);
    scalar_t* head_bias = head_bias_grad.data_ptr<scalar_t>();
    at::parallel_for(0, m, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        scalar_t* row = g + c * n;
        if (w) {
          for (int64_t j = 0; j < n; ++j) row[j] *= w[yt[j]] * inv_total;
        } else {
          for (int64_t j = 0; j < n; ++j) row[j] *= inv_total;
        }
        head_bias[c] = row_sum(row, n);
      }
    });
    const at::Tensor hidden_train = hidden.narrow(1, 0, n);
    at::mm_out(head_weight_grad, g_out, hidden_train.t());
    at::mm_out(g_pre, head_weight.t(), g_out);
    // ReLU's backward (zero where the unit was off, as torch's threshold_backward) and the hidden
    // layer's bias gradient, its row sums, in one pass.
    scalar_t* gp = g_pre.data_ptr<scalar_t>();
    const scalar_t* h = hidden.const_data_ptr<scalar_t>();
    scalar_t* hidden_bias = hidden_bias_grad.data_ptr<scalar_t>();
    at::parallel_for(0, K, 1, [&](int64_t k0, int64_t k1) {
      for (int64_t k = k0; k < k1; ++k) {
        scalar_t* row = gp + k * n;
        const scalar_t* on = h + k * N;
        for (int64_t j = 0; j < n; ++j) row[j] = on[j] > scalar_t(0) ? row[j] : scalar_t(0);
        hidden_bias[k] = row_sum(row, n);
      }
    });
  });
  return {val_loss, G, head_weight_grad, head_bias_grad, hidden_bias_grad};
}

}  // namespace

TORCH_LIBRARY_IMPL(lassonet, CPU, m) {
  m.impl("cross_entropy_tail", &cross_entropy_tail_cpu);
}

}  // namespace lassonet
