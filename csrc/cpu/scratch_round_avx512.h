// One search round over a chunk's scratch copy with AVX-512 intrinsics (included by chunk_solver.h
// in the AVX-512 build only, inside its LASSONET_ISA namespace): the same sums as
// chunk_active_pass, lane for lane (masked add where s > bound, masked min), and it also drops
// the rows that no lane's set reaches. A bound only grows from round to round (a finished lane's
// is +inf, or its final M r where the chunk's write needs its rows, see solve_chunk), so a row
// with no entry above its lane's bound adds nothing to this round's sums nor to any later round's: the kept rows move to the front of the scratch, in order, and the next
// round reads only those. Sums run over the same entries in the same order, so the results are
// bit for bit those of the other builds (tests/test_prox_cpu_isa.py). At the optimum few entries
// are clipped (0.4-3% with the benchmark's data, K = 64 to 1024), so after the first round most
// rows go; the mask test needs AVX-512's compare-into-mask, hence this build only.
#pragma once
// (<immintrin.h> is included by hier_prox_cpu_avx512.cpp, before the target region.)

template <typename A>
struct Avx512Lanes;

template <>
struct Avx512Lanes<float> {
  static constexpr int kWidth = 16;
  using V = __m512;
  using CountV = __m512i;  // int32 counts (lane_count_t<float>)
  using Mask = __mmask16;
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static CountV load_count(const int32_t* p) { return _mm512_loadu_si512(p); }
  static void store_count(int32_t* p, CountV v) { _mm512_storeu_si512(p, v); }
  static CountV count_one() { return _mm512_set1_epi32(1); }
  static Mask gt(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
  static Mask not_le(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_NLE_UQ); }
  static V add_where(V acc, Mask m, V x) { return _mm512_mask_add_ps(acc, m, acc, x); }
  static CountV count_where(CountV acc, Mask m, CountV one) { return _mm512_mask_add_epi32(acc, m, acc, one); }
  // where m: x < acc ? x : acc (MINPS returns its second operand unless the first is smaller)
  static V min_where(V acc, Mask m, V x) { return _mm512_mask_min_ps(acc, m, x, acc); }
  // For chunk_solver.h's RangeClip: lanes whose int32 flag is nonzero; copysign(min(|x|, b), x)
  // (VRANGEPS imm 0x2: the smaller magnitude, the first operand's sign), or src where m is clear;
  // a quiet NaN with x's sign.
  static Mask nonzero(const int32_t* p) {
    const __m512i v = _mm512_loadu_si512(p);
    return _mm512_test_epi32_mask(v, v);
  }
  static V clip(V x, V b) { return _mm512_range_ps(x, b, 0x2); }
  static V clip_where(V src, Mask m, V x, V b) { return _mm512_mask_range_ps(src, m, x, b, 0x2); }
  static V nan_with_sign_of(V x) {
    return _mm512_or_ps(_mm512_and_ps(x, _mm512_set1_ps(-0.0f)),
                        _mm512_set1_ps(std::numeric_limits<float>::quiet_NaN()));
  }
};

template <>
struct Avx512Lanes<double> {
  static constexpr int kWidth = 8;
  using V = __m512d;
  using CountV = __m512d;  // double counts (lane_count_t<double>)
  using Mask = __mmask8;
  static V load(const double* p) { return _mm512_loadu_pd(p); }
  static void store(double* p, V v) { _mm512_storeu_pd(p, v); }
  static CountV load_count(const double* p) { return _mm512_loadu_pd(p); }
  static void store_count(double* p, CountV v) { _mm512_storeu_pd(p, v); }
  static CountV count_one() { return _mm512_set1_pd(1.0); }
  static Mask gt(V a, V b) { return _mm512_cmp_pd_mask(a, b, _CMP_GT_OQ); }
  static Mask not_le(V a, V b) { return _mm512_cmp_pd_mask(a, b, _CMP_NLE_UQ); }
  static V add_where(V acc, Mask m, V x) { return _mm512_mask_add_pd(acc, m, acc, x); }
  static CountV count_where(CountV acc, Mask m, CountV one) { return _mm512_mask_add_pd(acc, m, acc, one); }
  static V min_where(V acc, Mask m, V x) { return _mm512_mask_min_pd(acc, m, x, acc); }
  static Mask nonzero(const int32_t* p) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return _mm256_test_epi32_mask(v, v);
  }
  static V clip(V x, V b) { return _mm512_range_pd(x, b, 0x2); }
  static V clip_where(V src, Mask m, V x, V b) { return _mm512_mask_range_pd(src, m, x, b, 0x2); }
  static V nan_with_sign_of(V x) {
    return _mm512_or_pd(_mm512_and_pd(x, _mm512_set1_pd(-0.0)),
                        _mm512_set1_pd(std::numeric_limits<double>::quiet_NaN()));
  }
};

// The round over rows 0 .. K-1 of s (C values each); returns how many rows it kept at the front.
// rows, where not null: rows[i] is the chunk row (of W) that scratch row i holds, kept alongside;
// the first round (first = true) starts it.
template <int C, typename A, typename N>
int64_t scratch_round_avx512(A* s, int32_t* rows, bool first, int64_t K, const A* bound, A* sum,
                             N* count, A* min_s, bool track_min) {
  using L = Avx512Lanes<A>;
  constexpr int kV = C / L::kWidth;  // vectors per row
  static_assert(kV * L::kWidth == C, "a chunk row is whole vectors");
  typename L::V b[kV], acc[kV], lo[kV];
  typename L::CountV n[kV];
  const typename L::CountV one = L::count_one();
  for (int v = 0; v < kV; ++v) {
    b[v] = L::load(bound + v * L::kWidth);
    acc[v] = L::load(sum + v * L::kWidth);
    n[v] = L::load_count(count + v * L::kWidth);
    lo[v] = L::load(min_s + v * L::kWidth);
  }
  int64_t kept = 0;
  for (int64_t k = 0; k < K; ++k) {
    const A* row = s + k * C;
    typename L::V x[kV];
    bool any = false;
    for (int v = 0; v < kV; ++v) {
      x[v] = L::load(row + v * L::kWidth);
      const typename L::Mask m = L::gt(x[v], b[v]);
      acc[v] = L::add_where(acc[v], m, x[v]);
      n[v] = L::count_where(n[v], m, one);
      if (track_min) lo[v] = L::min_where(lo[v], m, x[v]);
      any |= m != 0;
    }
    for (int v = 0; v < kV; ++v) L::store(s + kept * C + v * L::kWidth, x[v]);
    if (rows != nullptr) rows[kept] = first ? static_cast<int32_t>(k) : rows[k];
    kept += any ? 1 : 0;
  }
  for (int v = 0; v < kV; ++v) {
    L::store(sum + v * L::kWidth, acc[v]);
    L::store_count(count + v * L::kWidth, n[v]);
    L::store(min_s + v * L::kWidth, lo[v]);
  }
  return kept;
}
