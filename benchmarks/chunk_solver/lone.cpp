// Times the per-feature (lone) path of a csrc tree: hier_prox_feature on every feature of a
// column-major W, as the op takes W that is not row-major, groups and the few features left over
// after the chunks; the baseline x86-64 build, as the op's. One thread, no torch; prints the
// median time per K and M (d = 1e4, lam = 0.01, bench_prox.py's data) and checksums (equal
// checksums: equal bits, in practice). For an A/B, build it for each tree and run them in turn:
//   g++ -O3 -std=c++17 -fno-math-errno -fno-trapping-math -ffp-contract=off -DCSRC=/path/to/csrc \
//       benchmarks/chunk_solver/lone.cpp -o lone_a
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>
#define STR2(x) #x
#define STR(x) STR2(x)
#include STR(CSRC/hier_prox.h)
template <typename T>
double run(int64_t K, int64_t d, double M, double* checksum) {
  std::mt19937_64 g(0);
  std::normal_distribution<double> normal(0, 1);
  std::vector<T> th0(d), W0(K * d), th(d), W(K * d);
  for (auto& x : th0) x = (T)normal(g);
  for (auto& x : W0) x = (T)(0.3 * normal(g));
  using A = T;
  const lassonet::ProxParams<A> p{(A)0.01, (A)M, (A)0};
  std::vector<double> ts;
  for (int r = 0; r < 40; ++r) {
    std::memcpy(th.data(), th0.data(), d * sizeof(T));
    std::memcpy(W.data(), W0.data(), K * d * sizeof(T));
    auto a = std::chrono::steady_clock::now();
    for (int64_t j = 0; j < d; ++j) lassonet::hier_prox_feature<T, A>(th.data() + j, 1, 1, W.data() + j * K, 1, K, p);
    ts.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count());
  }
  double c = 0;
  for (auto x : W) c += x;
  for (auto x : th) c += 3 * x;
  *checksum = c;
  std::sort(ts.begin(), ts.end());
  return ts[ts.size() / 2] * 1e6;
}
int main(int argc, char** argv) {
  const int64_t d = 10000;
  for (int64_t K : {8, 16, 17, 32, 64}) for (double M : {1.0, 10.0}) {
    double c1, c2;
    const double t32 = run<float>(K, d, M, &c1), t64 = run<double>(K, d, M, &c2);
    std::printf("K=%ld M=%g f32 %.0f us f64 %.0f us checksums %.6f %.9f\n", (long)K, M, t32, t64, c1, c2);
  }
}
