// The registered op, called through the dispatcher from C++: matches the header applied column by
// column, writes in place into strided tensors, and rejects bad input before any write.
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include <vector>

#include "check.h"
#include "hier_prox.h"

namespace {

auto& op() {
  static auto handle = c10::Dispatcher::singleton()
                           .findSchemaOrThrow("lassonet::hier_prox", "")
                           .typed<void(const at::Tensor&, const at::Tensor&, double, double, double)>();
  return handle;
}

bool throws(const at::Tensor& theta, const at::Tensor& W, double lam, double M, double lam_bar) {
  try {
    op().call(theta, W, lam, M, lam_bar);
  } catch (const c10::Error&) {
    return true;
  }
  return false;
}

}  // namespace

int main() {
  at::manual_seed(0);
  const int64_t m = 3, K = 40, d = 100;
  at::Tensor theta = at::randn({m, d}, at::kDouble);
  at::Tensor W = at::randn({K, d}, at::kDouble) * 2;
  const double lam = 0.5, M = 1.5, lam_bar = 0.1;

  // Expected: the header applied to each column separately.
  at::Tensor th_cols = theta.t().contiguous();  // (d, m): column j contiguous
  at::Tensor w_cols = W.t().contiguous();       // (d, K)
  for (int64_t j = 0; j < d; ++j) {
    lassonet::hier_prox_feature<double, double>(th_cols[j].data_ptr<double>(), 1, m,
                                                w_cols[j].data_ptr<double>(), 1, K,
                                                lassonet::ProxParams<double>{lam, M, lam_bar});
  }
  at::Tensor th1 = theta.clone(), w1 = W.clone();
  op().call(th1, w1, lam, M, lam_bar);
  EXPECT(at::equal(th1, th_cols.t()));
  EXPECT(at::equal(w1, w_cols.t()));

  // Transposed (non-contiguous) inputs are written in place.
  at::Tensor th2 = theta.t().contiguous().t(), w2 = W.t().contiguous().t();
  op().call(th2, w2, lam, M, lam_bar);
  EXPECT(at::equal(th2, th1) && at::equal(w2, w1));

  // Bad input throws and changes nothing.
  at::Tensor t0 = theta.clone(), w0 = W.clone();
  EXPECT(throws(t0, w0, -1.0, M, 0.0));
  EXPECT(throws(t0, w0, lam, -1.0, 0.0));
  EXPECT(throws(t0, w0, lam, M, NAN));
  EXPECT(throws(t0.to(at::kFloat), w0, lam, M, 0.0));
  EXPECT(throws(t0.to(at::kLong), w0.to(at::kLong), lam, M, 0.0));
  EXPECT(throws(t0.narrow(1, 0, d - 1), w0, lam, M, 0.0));
  EXPECT(throws(t0, w0[0], lam, M, 0.0));
  EXPECT(throws(w0, w0, lam, M, 0.0));
  EXPECT(at::equal(t0, theta) && at::equal(w0, W));

  // Empty dimensions are fine.
  at::Tensor te = at::randn({2, 0}, at::kDouble), we = at::randn({4, 0}, at::kDouble);
  EXPECT(!throws(te, we, lam, M, 0.0));
  return report("test_hier_prox_op");
}
