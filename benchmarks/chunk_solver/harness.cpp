// Times the CPU kernel's chunk solver (csrc/cpu/chunk_solver.h) from a given csrc tree, built as
// the AVX-512 copy the op runs on AVX-512 CPUs (with -DHARNESS_AVX2 the AVX2 copy), on one
// thread, without torch: W = 0.3 N(0, 1), theta = N(0, 1), lam = 0.1, M = 1 (bench_prox.py's
// problem; the environment variables HARNESS_M and HARNESS_LAM_BAR set another M and lam_bar).
// Prints, per K, the median time of the solver and of a memcpy of W, and a checksum of the results
// (equal checksums: equal bits, in practice). Built and run by ab.py, which alternates several
// trees.
//   g++ -O3 -std=c++17 -fno-math-errno -fno-trapping-math -ffp-contract=off
//       -DCSRC=/path/to/csrc harness.cpp      (ab.py adds -DLASSONET_SCRATCH_ROUND_AVX512=1
//                                               where the tree has scratch_round_avx512.h, or
//                                               with --avx2 -DHARNESS_AVX2 instead)
//   ./a.out D K1,K2,... [1 for float64]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#define LASSONET_STR2(x) #x
#define LASSONET_STR(x) LASSONET_STR2(x)
#if defined(HARNESS_AVX2)  // the AVX2 copy (hier_prox_cpu_avx2.cpp's settings)
#define LASSONET_ISA_TARGET "avx2"
#include LASSONET_STR(CSRC/cpu/isa_begin.h)
#define LASSONET_ISA isa_avx2
#define LASSONET_LANES_AVX2 1
#else  // the AVX-512 copy (hier_prox_cpu_avx512.cpp's)
#define LASSONET_ISA_TARGET "avx512f,avx512vl,avx512bw,avx512dq"
#include LASSONET_STR(CSRC/cpu/isa_begin.h)
#define LASSONET_ISA isa_avx512
#define LASSONET_CHUNK_BYTES 128
#endif
#define LASSONET_ROLLED_DOUBLE 1
#include LASSONET_STR(CSRC/cpu/chunk_solver.h)
namespace lassonet {
namespace LASSONET_ISA {
__attribute__((noinline)) void run(const ChunkJob<float>& j, int64_t a, int64_t b) { solve_features(j, a, b); }
__attribute__((noinline)) void run(const ChunkJob<double>& j, int64_t a, int64_t b) { solve_features(j, a, b); }
}  // namespace LASSONET_ISA
}  // namespace lassonet
template <typename T>
void harness_run(const lassonet::ChunkJob<T>& j, int64_t a, int64_t b) { lassonet::LASSONET_ISA::run(j, a, b); }
#include LASSONET_STR(CSRC/cpu/isa_end.h)

template <typename T>
T* aligned(size_t n) {
  return static_cast<T*>(std::aligned_alloc(64, (n * sizeof(T) + 63) / 64 * 64));
}

// The q-quantile of v: the median (q = 0.5), or a low one, which a busy machine disturbs less.
double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * (v.size() - 1))];
}

template <typename T>
void bench(int64_t K, int64_t d) {
  const char* env_m = std::getenv("HARNESS_M");  // (M = 1 unless set: crowded features at small M)
  const double M = env_m != nullptr ? std::atof(env_m) : 1.0;
  const char* env_lam_bar = std::getenv("HARNESS_LAM_BAR");  // (0 unless set: the L1 term's copies)
  const double lam_bar = env_lam_bar != nullptr ? std::atof(env_lam_bar) : 0.0;
  std::mt19937_64 g(0);
  std::normal_distribution<double> normal(0, 1);
  std::vector<T> th0(d), W0(K * d);
  for (auto& x : th0) x = static_cast<T>(normal(g));
  for (auto& x : W0) x = static_cast<T>(0.3 * normal(g));
  T* th = aligned<T>(d);
  T* W = aligned<T>(K * d);
  T* dst = aligned<T>(K * d);
  std::memset(dst, 0, K * d * sizeof(T));
  const int reps = static_cast<int>(std::max<int64_t>(5, 300000000 / (K * d)));
  std::vector<double> t_op, t_copy;
  using clock = std::chrono::steady_clock;
  for (int r = 0; r < reps; ++r) {
    std::memcpy(th, th0.data(), d * sizeof(T));
    std::memcpy(W, W0.data(), K * d * sizeof(T));
    const lassonet::ChunkJob<T> job{W, d, K, th, d, 1, 1, 0.1, M, lam_bar};
    auto a = clock::now();
    harness_run(job, 0, d);
    t_op.push_back(std::chrono::duration<double>(clock::now() - a).count());
    std::memcpy(W, W0.data(), K * d * sizeof(T));  // the copy reads a W as fresh as the op's
    a = clock::now();
    std::memcpy(dst, W, K * d * sizeof(T));
    t_copy.push_back(std::chrono::duration<double>(clock::now() - a).count());
  }
  std::memcpy(th, th0.data(), d * sizeof(T));
  std::memcpy(W, W0.data(), K * d * sizeof(T));
  const lassonet::ChunkJob<T> job{W, d, K, th, d, 1, 1, 0.1, M, lam_bar};
  harness_run(job, 0, d);
  double checksum = 0;
  for (int64_t i = 0; i < K * d; ++i) checksum += W[i];
  for (int64_t j = 0; j < d; ++j) checksum += 3.0 * th[j];
  std::printf("%s d=%ld K=%ld  %.1f us  copy %.1f us  checksum %.9g  p10 %.1f us\n", sizeof(T) == 8 ? "f64" : "f32",
              static_cast<long>(d), static_cast<long>(K), quantile(t_op, 0.5) * 1e6, quantile(t_copy, 0.5) * 1e6,
              checksum, quantile(t_op, 0.1) * 1e6);
  std::free(th), std::free(W), std::free(dst);
}

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s D K1,K2,... [1 for float64]\n", argv[0]);
    return 2;
  }
  if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
      !__builtin_cpu_supports("avx512dq") || !__builtin_cpu_supports("avx512vl")) {
    std::fprintf(stderr, "this CPU lacks AVX-512 (F, BW, DQ, VL)\n");
    return 2;
  }
  const int64_t d = std::atol(argv[1]);
  const bool f64 = argc > 3 && std::atoi(argv[3]) == 1;
  std::vector<char> ks(argv[2], argv[2] + std::strlen(argv[2]) + 1);
  for (char* t = std::strtok(ks.data(), ","); t != nullptr; t = std::strtok(nullptr, ",")) {
    if (f64) {
      bench<double>(std::atol(t), d);
    } else {
      bench<float>(std::atol(t), d);
    }
  }
}
