// HIER-PROX for one feature: the per-feature math shared by the CPU and CUDA kernels.
//
// No torch types here, so the same code compiles for host and device and the CPU tests exercise
// exactly the arithmetic the GPU runs.
//
// Feature j owns v = theta[:, j] (m values) and w = W[:, j] (K values). The op writes the exact
// minimiser of
//   1/2||b - v||^2 + 1/2||u - w||^2 + lam ||b||_2 + lam_bar ||u||_1   s.t.  ||u||_inf <= M ||b||_2.
// With s_i = max(|w_i| - lam_bar, 0) and r = ||b||, the optimum is b = r v/||v||,
// u_i = sign(w_i) min(s_i, M r), and r is the root of the increasing piecewise-linear
//   g(r) = r - ||v|| + lam - M sum_i max(s_i - M r, 0)      (r = 0 when g(0) >= 0).
// On the active set A = {i : s_i > M r}:  r = (||v|| - lam + M sum_A s_i) / (1 + |A| M^2), the
// paper's w_m / M with m = |A|. Instead of sorting we find A by Michelot-style shrinking: start with
// every positive s_i, solve for r, drop the s_i <= M r, repeat. Each candidate r is a lower bound of
// the optimum and the sets only shrink, so the loop stops, exactly, after at most K passes; in
// practice after two or three. Sums run in index order, so the result does not depend on how the
// features are split between threads.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__) || defined(__HIPCC__)
#define LASSONET_HD __host__ __device__ __forceinline__
#else
#define LASSONET_HD inline
#endif

namespace lassonet {

// Accumulation type: float for float/half/bfloat16 storage, double for double. The CPU kernel uses
// the same choice as the CUDA one so that both run identical arithmetic.
template <typename T>
struct AccumulateType {
  using type = float;
};
template <>
struct AccumulateType<double> {
  using type = double;
};
template <typename T>
using acc_t = typename AccumulateType<T>::type;

template <typename A>
struct ProxParams {
  A lam;      // threshold on ||theta_j||_2 (step size times the penalty)
  A M;        // hierarchy constant, >= 0 (M = 0 is the group lasso on theta, W -> 0)
  A lam_bar;  // L1 threshold on W's entries, >= 0
};

namespace detail {

LASSONET_HD float sqrt_(float x) { return ::sqrtf(x); }
LASSONET_HD double sqrt_(double x) { return ::sqrt(x); }
LASSONET_HD float copysign_(float a, float b) { return ::copysignf(a, b); }
LASSONET_HD double copysign_(double a, double b) { return ::copysign(a, b); }
template <typename A>
LASSONET_HD A abs_(A x) { return x < A(0) ? -x : x; }  // NaN stays NaN
template <typename A>
LASSONET_HD bool finite_(A x) {
  // x - x is 0 for finite x and NaN for inf/NaN; independent of <cmath> overloads on device.
  return (x - x) == A(0);
}
template <typename A>
LASSONET_HD A nan_() {
  const A zero = A(0);
  return zero / zero;  // quiet NaN without std::numeric_limits (not constexpr-callable on device)
}

}  // namespace detail

// What one feature's problem reduces to: the new norm r of theta_j.
template <typename A>
struct FeatureRadius {
  A r;           // ||b|| at the optimum, >= 0
  A norm_v;      // ||theta_j|| before the update
  bool finite;   // false when theta_j or W_j hold inf/NaN (or their sums overflow)
};

// Statistics of the shrunk magnitudes s_i = max(|w_i| - lam_bar, 0) over one feature.
template <typename A>
struct ShrunkStats {
  A sum_abs = A(0);  // sum |w_i|, only to detect inf/NaN
  A sum = A(0);      // sum of the positive s_i
  A max = A(0);      // largest s_i
  int64_t count = 0; // number of positive s_i
};

template <typename T, typename A>
LASSONET_HD A column_norm(const T* v, int64_t stride, int64_t m) {
  if (m == 1) return detail::abs_(static_cast<A>(v[0]));  // exact for the common single output
  A ss = A(0);
  for (int64_t i = 0; i < m; ++i) {
    const A x = static_cast<A>(v[i * stride]);
    ss += x * x;
  }
  if (detail::finite_(ss)) return detail::sqrt_(ss);
  // The squares overflowed (or an entry is inf/NaN): redo the sum scaled by the largest entry.
  A big = A(0);
  for (int64_t i = 0; i < m; ++i) {
    const A a = detail::abs_(static_cast<A>(v[i * stride]));
    if (!detail::finite_(a)) return a - a;  // NaN marks a non-finite column
    if (a > big) big = a;
  }
  ss = A(0);
  for (int64_t i = 0; i < m; ++i) {
    const A x = static_cast<A>(v[i * stride]) / big;
    ss += x * x;
  }
  return big * detail::sqrt_(ss);
}

template <typename T, typename A>
LASSONET_HD ShrunkStats<A> shrunk_stats(const T* w, int64_t stride, int64_t K, A lam_bar) {
  ShrunkStats<A> st;
  for (int64_t k = 0; k < K; ++k) {
    const A a = detail::abs_(static_cast<A>(w[k * stride]));
    st.sum_abs += a;
    const A s = a - lam_bar;
    if (s > A(0)) {
      st.sum += s;
      st.count += 1;
      if (s > st.max) st.max = s;
    }
  }
  return st;
}

// r for a given active set (its sum and size); clipped at 0 against rounding.
template <typename A>
LASSONET_HD A radius_for_active_set(A base, A M, A sum, int64_t count) {
  const A r = (base + M * sum) / (A(1) + static_cast<A>(count) * M * M);
  return r > A(0) ? r : A(0);
}

// Sum and size of the active set {i : s_i > bound}, as returned by one pass over a feature.
template <typename A>
struct ActiveSum {
  A sum;
  int64_t count;
};

// The active-set loop, given the feature's norm, its statistics and a pass functor
// `active(bound, pass) -> ActiveSum<A>` (pass counts from 0). Backends differ only in how a pass
// visits the entries: sequentially here, warp-cooperatively in the CUDA fast path.
template <typename A, typename ActivePass>
LASSONET_HD FeatureRadius<A> radius_from_stats(A norm_v, ShrunkStats<A> st, ProxParams<A> p,
                                               ActivePass&& active) {
  FeatureRadius<A> out;
  out.norm_v = norm_v;
  out.finite = detail::finite_(norm_v) && detail::finite_(st.sum_abs);
  out.r = A(0);
  if (!out.finite) return out;

  const A base = norm_v - p.lam;
  if (base + p.M * st.sum <= A(0)) return out;  // g(0) >= 0: the feature dies
  if (base > A(0) && p.M * base >= st.max) {     // no entry of W is clipped
    out.r = base;
    return out;
  }
  A r = radius_for_active_set(base, p.M, st.sum, st.count);
  int64_t count = st.count;
  for (int pass = 0;; ++pass) {
    const ActiveSum<A> a = active(p.M * r, pass);
    if (a.count == count) break;  // the active set is self-consistent: r is the root of g
    count = a.count;
    // In exact arithmetic the candidates only grow. Keeping the larger one stops rounding from
    // dropping a boundary entry and collapsing r (seen with float32 and M = 1e6).
    const A next = radius_for_active_set(base, p.M, a.sum, count);
    r = next > r ? next : r;
  }
  out.r = r;
  return out;
}

// Solve for r sequentially. `scratch` (K values of A, or nullptr) keeps the active s_i between
// passes so later passes touch only them; without it each pass rescans w. Both give bit-identical
// results (same entries, same order).
template <typename T, typename A>
LASSONET_HD FeatureRadius<A> solve_radius(const T* v, int64_t v_stride, int64_t m, const T* w,
                                          int64_t w_stride, int64_t K, ProxParams<A> p,
                                          A* scratch) {
  const A norm_v = column_norm<T, A>(v, v_stride, m);
  const ShrunkStats<A> st = shrunk_stats<T, A>(w, w_stride, K, p.lam_bar);
  int64_t stored = 0;  // active entries held in scratch
  auto active = [&](A bound, int pass) {
    ActiveSum<A> a{A(0), 0};
    if (scratch != nullptr && pass > 0) {
      for (int64_t i = 0; i < stored; ++i) {
        const A s = scratch[i];
        if (s > bound) {
          a.sum += s;
          scratch[a.count++] = s;
        }
      }
    } else {
      for (int64_t k = 0; k < K; ++k) {
        const A s = detail::abs_(static_cast<A>(w[k * w_stride])) - p.lam_bar;
        if (s > bound) {
          a.sum += s;
          if (scratch != nullptr) scratch[a.count] = s;
          ++a.count;
        }
      }
    }
    stored = a.count;
    return a;
  };
  return radius_from_stats<A>(norm_v, st, p, active);
}

// Write the new theta_j for radius r (or NaN for a non-finite feature).
template <typename T, typename A>
LASSONET_HD void apply_theta(T* v, int64_t v_stride, int64_t m, FeatureRadius<A> sol) {
  if (!sol.finite) {  // NaN policy: a feature with inf/NaN input becomes all NaN, others are exact
    for (int64_t i = 0; i < m; ++i) v[i * v_stride] = static_cast<T>(detail::nan_<A>());
    return;
  }
  const A r = sol.r;
  if (m == 1) {
    const A x = static_cast<A>(v[0]);
    v[0] = static_cast<T>(x < A(0) ? -r : r);  // theta_j = 0 entering the model gets +r
  } else if (sol.norm_v > A(0)) {
    const A scale = r / sol.norm_v;
    if (scale != A(1)) {
      for (int64_t i = 0; i < m; ++i) {
        v[i * v_stride] = static_cast<T>(static_cast<A>(v[i * v_stride]) * scale);
      }
    }
  } else {  // theta_j = 0 and the feature enters: spread r evenly, (1,...,1) r/sqrt(m)
    const A e = r / detail::sqrt_(static_cast<A>(m));
    for (int64_t i = 0; i < m; ++i) v[i * v_stride] = static_cast<T>(e);
  }
}

// Update one entry of W_j: shrink by lam_bar, clip to M r, keep the sign. Returns whether it
// changed. `bound` is M r, or NaN for a non-finite feature.
template <typename T, typename A>
LASSONET_HD bool apply_w_entry(T* w, A bound, A lam_bar) {
  const A x = static_cast<A>(*w);
  if (bound != bound) {  // NaN bound: non-finite feature
    *w = static_cast<T>(bound);
    return true;
  }
  const A a = detail::abs_(x);
  A s = a - lam_bar;
  s = s > A(0) ? s : A(0);
  const A u = s < bound ? s : bound;
  if (u == a) return false;
  *w = static_cast<T>(detail::copysign_(u, x));
  return true;
}

template <typename A>
LASSONET_HD A clip_bound(FeatureRadius<A> sol, ProxParams<A> p) {
  return sol.finite ? p.M * sol.r : detail::nan_<A>();
}

// Write the solution for radius r into theta_j and W_j. Returns whether any entry of W_j changed
// (callers with a staging buffer skip the write-back when nothing did).
template <typename T, typename A>
LASSONET_HD bool apply_radius(T* v, int64_t v_stride, int64_t m, T* w, int64_t w_stride, int64_t K,
                              FeatureRadius<A> sol, ProxParams<A> p) {
  apply_theta<T, A>(v, v_stride, m, sol);
  const A bound = clip_bound(sol, p);
  bool changed = false;
  for (int64_t k = 0; k < K; ++k) changed |= apply_w_entry<T, A>(w + k * w_stride, bound, p.lam_bar);
  return changed;
}

// The whole per-feature prox, in place. Returns whether W_j changed.
template <typename T, typename A>
LASSONET_HD bool hier_prox_feature(T* v, int64_t v_stride, int64_t m, T* w, int64_t w_stride,
                                   int64_t K, ProxParams<A> p, A* scratch) {
  const FeatureRadius<A> sol = solve_radius<T, A>(v, v_stride, m, w, w_stride, K, p, scratch);
  return apply_radius<T, A>(v, v_stride, m, w, w_stride, K, sol, p);
}

}  // namespace lassonet
