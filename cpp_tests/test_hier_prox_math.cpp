// The per-feature header alone (no torch): hier_prox_feature against a long-double bisection on
// g(r) = r - ||v|| + lam - M sum max(s_i - M r, 0), on random and edge-case problems.
#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "check.h"
#include "hier_prox.h"

using lassonet::ProxParams;

namespace {

long double bisect_radius(const std::vector<double>& v, const std::vector<double>& w, double lam,
                          double M, double lam_bar) {
  long double nv = 0, sum_s = 0;
  for (double x : v) nv += (long double)x * x;
  nv = std::sqrt(nv);
  std::vector<long double> s;
  for (double x : w) {
    s.push_back(std::max<long double>(std::fabs((long double)x) - lam_bar, 0));
    sum_s += s.back();
  }
  auto g = [&](long double r) {
    long double acc = r - nv + lam;
    for (long double si : s) acc -= M * std::max<long double>(si - M * r, 0);
    return acc;
  };
  if (g(0) >= 0) return 0;
  long double lo = 0, hi = nv + M * sum_s + 1;
  for (int i = 0; i < 200; ++i) {
    const long double mid = (lo + hi) / 2;
    (g(mid) > 0 ? hi : lo) = mid;
  }
  return (lo + hi) / 2;
}

void check_problem(std::vector<double> v, std::vector<double> w, double lam, double M,
                   double lam_bar) {
  const long double r = bisect_radius(v, w, lam, M, lam_bar);
  double scale = lam + lam_bar + 1e-300;
  for (double x : v) scale += std::fabs(x);
  for (double x : w) scale = std::max(scale, std::fabs(x));
  const double tol = 1e-12 * scale;
  const std::vector<double> w0 = w;
  ProxParams<double> p{lam, M, lam_bar};
  {
    std::vector<double> vv = v, ww = w0;
    lassonet::hier_prox_feature<double, double>(vv.data(), 1, (int64_t)vv.size(), ww.data(), 1,
                                                (int64_t)ww.size(), p);
    long double nv = 0;
    for (double x : vv) nv += (long double)x * x;
    EXPECT(std::fabs((double)(std::sqrt(nv) - r)) <= tol);
    for (size_t k = 0; k < ww.size(); ++k) {
      const long double sk = std::max<long double>(std::fabs((long double)w0[k]) - lam_bar, 0);
      const long double expect = std::copysign((double)std::min<long double>(sk, M * r), w0[k]);
      EXPECT(std::fabs((double)(ww[k] - expect)) <= tol * (1 + M));
      EXPECT(std::fabs(ww[k]) <= M * std::sqrt((double)nv) + tol * (1 + M));  // feasible
    }
  }
}

// The search stops a pass early when the set's smallest entry stays above the new bound
// (ActiveSum::min). That must give the very r of the search without it (which confirms the set with
// one more pass), bit for bit, in no more passes. Returns the passes saved.
template <typename A>
int check_early_stop_is_exact(const std::vector<A>& w, A norm_v, ProxParams<A> p) {
  const auto entries = lassonet::column(w.data(), 1, (int64_t)w.size());
  const auto st = lassonet::entries_stats<A>(entries, p.lam_bar, norm_v - p.lam, p.M);
  int with_min = 0, without_min = 0;
  const auto a = lassonet::radius_from_stats<A>(norm_v, st, p, [&](A bound) {
    ++with_min;
    return lassonet::entries_active<A>(entries, p.lam_bar, bound);
  });
  const auto b = lassonet::radius_from_stats<A>(norm_v, st, p, [&](A bound) {
    ++without_min;
    auto s = lassonet::entries_active<A>(entries, p.lam_bar, bound);
    s.min = -lassonet::detail::inf_<A>();  // "unknown": the search must confirm with a pass
    return s;
  });
  EXPECT(a.r == b.r);
  EXPECT(with_min <= without_min);
  return without_min - with_min;
}

// A sorting network sorts every input if it sorts every 0/1 input (Knuth's 0-1 principle): try
// all 2^N of them. Returns the number of inputs left unsorted.
template <int N, typename Network>
int unsorted_01_inputs(Network&& network) {
  int bad = 0;
  for (uint32_t bits = 0; bits < (1u << N); ++bits) {
    int v[N];
    for (int i = 0; i < N; ++i) v[i] = (bits >> i) & 1;
    bool in_range = true;
    network([&](int i, int j) {
      in_range = in_range && 0 <= i && i < j && j < N;
      if (in_range) lassonet::compare_exchange(v[i], v[j]);
    });
    bool sorted = in_range;
    for (int i = 0; i + 1 < N; ++i) sorted = sorted && v[i] >= v[i + 1];
    bad += sorted ? 0 : 1;
  }
  return bad;
}

// Up to sorted_top_max_entries<A>() entries the CPU sorts (solve_entries_sorted) where the GPU searches
// (solve_entries_searched): where the sorted radius says it is exact, both agree to rounding; where
// not (more than 16 entries may be active), it is still a lower bound. Returns whether it was exact.
template <typename A>
bool check_sorted_equals_search(const std::vector<A>& w, A norm_v, ProxParams<A> p, A tol) {
  const auto entries = lassonet::column(w.data(), 1, (int64_t)w.size());
  const A v[1] = {norm_v};
  const auto sorted = lassonet::solve_entries_sorted<A>(lassonet::column(v, 1, 1), entries, p);
  const auto searched = lassonet::solve_entries_searched<A>(lassonet::column(v, 1, 1), entries, p);
  A scale = norm_v + p.lam;
  for (A x : w) scale = std::max(scale, std::fabs(x));
  if (sorted.exact) {
    EXPECT(std::fabs(sorted.sol.r - searched.r) <= tol * scale);
  } else {
    EXPECT(sorted.sol.r <= searched.r + tol * scale);
  }
  return sorted.exact;
}

// sorted_top_16 against std::sort: the 16 largest of n values, descending, zeros past n.
template <typename A>
int top_16_mismatches(std::vector<A> x) {
  const int64_t n = (int64_t)x.size();
  A s[lassonet::kSortedMaxEntries];
  lassonet::sorted_top_16(s, n, [&](A* block, int64_t b) {
    for (int i = 0; i < lassonet::kSortedMaxEntries; ++i) block[i] = b + i < n ? x[b + i] : A(0);
  }, [](A& hi, A& lo) { lassonet::compare_exchange(hi, lo); });
  std::sort(x.begin(), x.end(), [](A a, A b) { return a > b; });
  int bad = 0;
  for (int k = 0; k < lassonet::kSortedMaxEntries; ++k) bad += s[k] != (k < n ? x[k] : A(0));
  return bad;
}

}  // namespace

int main() {
  EXPECT(unsorted_01_inputs<8>([](auto&& ce) { lassonet::sorting_network_8(ce); }) == 0);
  EXPECT(unsorted_01_inputs<16>([](auto&& ce) { lassonet::sorting_network_16(ce); }) == 0);
  std::mt19937_64 rng(42);
  std::normal_distribution<double> normal;
  const double Ms[] = {0.0, 1e-3, 0.5, 1.0, 10.0, 1e4};
  const double lams[] = {0.0, 0.1, 1.0, 5.0};
  for (int K : {1, 2, 7, 8, 9, 16, 17, 64, 300}) {
    for (int m : {1, 3}) {
      for (double M : Ms) {
        for (double lam : lams) {
          for (double lam_bar : {0.0, 0.2}) {
            std::vector<double> v(m), w(K);
            for (double& x : v) x = normal(rng);
            for (double& x : w) x = 2 * normal(rng);
            check_problem(v, w, lam, M, lam_bar);
          }
        }
      }
    }
  }
  {
    int saved = 0;
    for (int i = 0; i < 400; ++i) {
      const int K = 1 + i % 200;
      std::vector<double> w(K);
      std::vector<float> wf(K);
      for (int k = 0; k < K; ++k) wf[k] = (float)(w[k] = 0.3 * normal(rng));
      const double nv = std::fabs(normal(rng)), M = Ms[i % 6], lam_bar = i % 3 == 0 ? 0.05 : 0.0;
      saved += check_early_stop_is_exact<double>(w, nv, ProxParams<double>{0.1, M, lam_bar});
      saved += check_early_stop_is_exact<float>(wf, (float)nv, ProxParams<float>{0.1f, (float)M, (float)lam_bar});
    }
    EXPECT(saved > 0);
  }
  {
    // sorted_top_16: random values with ties and zeros, every n up to 256; 0/1 inputs.
    int bad = 0;
    std::uniform_int_distribution<int> small(0, 6);
    for (int i = 0; i < 3000; ++i) {
      const int n = 1 + i % lassonet::sorted_top_max_entries<float>();
      std::vector<double> x(n);
      for (double& e : x) e = i % 2 ? small(rng) * 0.25 : std::fabs(normal(rng));
      bad += top_16_mismatches(x);
      std::vector<float> b(n);
      for (float& e : b) e = (float)(small(rng) % 2);
      bad += top_16_mismatches(b);
    }
    EXPECT(bad == 0);
  }
  {
    // The sorted radius against the search, K = 1 .. 256 (float) and 1 .. 64 (double): theta's
    // norm from |N(0, 1)| (the benchmark's data) and, every fourth problem, near 0 with a small M,
    // where more than 16 entries are often active (the search then decides).
    int exact = 0, inexact = 0, exact_f = 0, inexact_f = 0;
    for (int i = 0; i < 6000; ++i) {
      const int K = 1 + i % lassonet::sorted_top_max_entries<float>();
      std::vector<double> w(K);
      std::vector<float> wf(K);
      for (int k = 0; k < K; ++k) wf[k] = (float)(w[k] = 0.3 * normal(rng));
      if (i % 5 == 0) w[K / 2] = w[0], wf[K / 2] = wf[0];  // a tie
      const bool crowded = i % 4 == 0;
      const double nv = crowded ? 0.01 * std::fabs(normal(rng)) : std::fabs(normal(rng));
      const double M = crowded ? 0.3 : Ms[i % 6], lam_bar = i % 3 == 0 ? 0.05 : 0.0;
      const double lam = crowded ? 0.0 : 0.1;
      const bool e_f = check_sorted_equals_search<float>(wf, (float)nv, ProxParams<float>{(float)lam, (float)M, (float)lam_bar}, 1e-5f);
      if (K > lassonet::kSortedMaxEntries) (e_f ? exact_f : inexact_f) += 1;
      if (K > lassonet::sorted_top_max_entries<double>()) continue;
      const bool e = check_sorted_equals_search<double>(w, nv, ProxParams<double>{lam, M, lam_bar}, 1e-13);
      if (K > lassonet::kSortedMaxEntries) (e ? exact : inexact) += 1;
    }
    EXPECT(exact > 0 && inexact > 0 && exact_f > 0 && inexact_f > 0);
  }
  // Edge cases: ties, zeros, theta = 0 entering, K = 0, everything dying, geometric magnitudes.
  check_problem({0.5}, {2, -2, 2, 1, 1}, 0.1, 1.0, 0.0);
  check_problem({1.0}, {2.0, 2.0}, 0.0, 1.0, 0.0);
  check_problem({0, 0, 0}, {5, -4, 0, 1}, 0.1, 1.0, 0.0);
  check_problem({0}, {0, 0}, 0.1, 1.0, 0.0);
  check_problem({0.3, -0.2}, {}, 0.1, 1.0, 0.0);
  check_problem({0.3, -0.2}, {1, 2, 3}, 1e9, 1.0, 0.0);
  std::vector<double> geo;
  for (int i = 0; i < 50; ++i) geo.push_back(std::ldexp(1.0, -i));
  check_problem({0.01}, geo, 0.0, 1.0, 0.0);

  // Non-finite input: the feature becomes NaN.
  {
    std::vector<double> v{1.0}, w{NAN, 1.0};
    lassonet::hier_prox_feature<double, double>(v.data(), 1, 1, w.data(), 1, 2,
                                                ProxParams<double>{0.1, 1.0, 0.0});
    EXPECT(std::isnan(v[0]) && std::isnan(w[0]) && std::isnan(w[1]));
  }
  // float storage, float accumulation: close to the double result.
  {
    std::vector<float> v{0.7f, -0.3f}, w{3.0f, -1.0f, 0.25f};
    std::vector<double> vd{0.7f, -0.3f}, wd{3.0f, -1.0f, 0.25f};
    lassonet::hier_prox_feature<float, float>(v.data(), 1, 2, w.data(), 1, 3,
                                              ProxParams<float>{0.2f, 1.5f, 0.0f});
    lassonet::hier_prox_feature<double, double>(vd.data(), 1, 2, wd.data(), 1, 3,
                                                ProxParams<double>{0.2, 1.5, 0.0});
    for (int i = 0; i < 2; ++i) EXPECT(std::fabs(v[i] - vd[i]) < 1e-6);
    for (int i = 0; i < 3; ++i) EXPECT(std::fabs(w[i] - wd[i]) < 1e-6);
  }
  return report("test_hier_prox_math");
}
