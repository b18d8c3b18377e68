// PowerQuant's exponent search (power-quant.md "Unit tests"): a = 1 is uniform quantization, e(a) has one
// minimum on [0.2, 1] for Gaussian and Laplace tensors with a* in the expected ranges, every code survives
// the round trip Q_a(Q_a^-1(q)) = q, no NaN/Inf over 10 seeds, group rows with a short last group.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "pare/error.h"
#include "pare/quant/fake_quantize.h"
#include "pare/quant/methods/power_search.h"
#include "pare/quant/quantize_weight.h"
#include "pare/quant/random_weights_test_util.h"

namespace pare::quant {
namespace {

using testing::gaussian;
using testing::laplace;

TEST(PowerSearch, ExponentOneIsUniformQuantization) {
  // Same codes as the symmetric uniform grid with the same max |w| range, for every width and layout. The
  // two compute the code differently (x / (M / n) against (|x| / M) * n, sign restored), so a value within
  // an ulp of a rounding midpoint could in principle round apart; none does on these tensors. Values agree
  // to float rounding: M * (q / n) against q * (M / n).
  const at::Tensor w = laplace({16, 300}, 1);
  for (int bits = 2; bits <= 8; ++bits) {
    for (const Granularity& g : {Granularity::tensor(), Granularity::channel(), Granularity::group(64)}) {
      WeightQuantOptions u;
      u.grid = Grid::uniform(bits);
      u.granularity = g;
      const QuantizedTensor uq = quantize_weight(w, 0, u, "w");
      const QuantizedTensor pq = power_quantize_weight(w, 0, g, bits, 1.0, 32, "w");
      EXPECT_TRUE(at::equal(uq.codes, pq.codes)) << bits << " " << g.str();
      EXPECT_TRUE(at::allclose(uq.dequantize(), pq.dequantize(), 2e-7, 0)) << bits << " " << g.str();
      const double e = (uq.dequantize() - w).to(at::kDouble).pow(2).sum().item<double>();
      EXPECT_NEAR(power_error(w, 0, g, bits, 1.0), e, 1e-5 * e);
    }
  }
}

std::vector<double> error_curve(const at::Tensor& w, int bits, const std::vector<double>& as) {
  std::vector<double> e;
  for (double a : as) e.push_back(power_error(w, 0, Granularity::tensor(), bits, a));
  return e;
}

TEST(PowerSearch, OneMinimumOnTheIntervalAndSpecRanges) {
  // Per tensor, 64 x 1024 elements. Measured over seeds 0..9, a* (golden section, tol 1e-3) and
  // e(a*) / e(1):
  //   4 bits  Gaussian a* 0.597-0.677, ratio 0.634-0.687    Laplace a* 0.461-0.540, ratio 0.361-0.429
  //   3 bits  Gaussian a* 0.652-0.677, ratio 0.635-0.690    Laplace a* 0.481-0.528, ratio 0.506-0.549
  // Per channel (rows of 1024, smaller maxima) a* is higher: 4 bits Gaussian 0.69-0.74 (ratio about
  // 0.78), Laplace 0.56-0.61 (about 0.52); 3 bits Gaussian 0.70-0.73, Laplace 0.56-0.59.
  // The method page expects, 4 bits: Gaussian a* 0.65-0.7 with MSE 29% below a = 1, Laplace 0.5 with 60%
  // below; 3 bits: Gaussian 0.7, Laplace 0.5. Laplace matches; the Gaussian a* is a little lower per tensor
  // (0.64 at 4 bits, 0.665 at 3) and a little higher per channel, with 31-37% less MSE per tensor. a*
  // follows the sample's max |w| (the scale), hence the spread over seeds; the ranges asserted below are
  // the measured ones widened by 0.03.
  struct Case {
    int bits;
    bool gaussian;
    double a_lo, a_hi, ratio_lo, ratio_hi;
  };
  const Case cases[] = {{4, true, 0.57, 0.71, 0.60, 0.72},
                        {4, false, 0.43, 0.57, 0.33, 0.46},
                        {3, true, 0.62, 0.71, 0.60, 0.72},
                        {3, false, 0.45, 0.56, 0.48, 0.58}};
  std::vector<double> grid;
  for (int i = 0; i <= 20; ++i) grid.push_back(0.2 + 0.04 * i);
  for (const Case& c : cases) {
    const at::Tensor w = c.gaussian ? gaussian({64, 1024}, 2) : laplace({64, 1024}, 2);
    const char* what = c.gaussian ? "gaussian" : "laplace";
    const PowerSearch s = search_power_exponent({w}, {0}, Granularity::tensor(), c.bits);
    EXPECT_GE(s.exponent, c.a_lo) << c.bits << " " << what;
    EXPECT_LE(s.exponent, c.a_hi) << c.bits << " " << what;
    EXPECT_GE(s.error / s.uniform_error, c.ratio_lo) << c.bits << " " << what;
    EXPECT_LE(s.error / s.uniform_error, c.ratio_hi) << c.bits << " " << what;
    EXPECT_FALSE(s.hit_bound);
    EXPECT_LT(s.evaluations, 40);
    if (c.bits != 4) continue;  // the curve at 4 bits only, to keep the test fast
    // Unimodal on a 21-point grid: falls to one minimum, then rises. On finite data e(a) is only piecewise
    // smooth (codes switch one by one), so steps against the trend up to 0.1% are allowed (seen: 0.02%).
    const std::vector<double> e = error_curve(w, c.bits, grid);
    const size_t best = std::min_element(e.begin(), e.end()) - e.begin();
    for (size_t i = 0; i + 1 <= best; ++i) EXPECT_GT(e[i], e[i + 1] * (1 - 1e-3)) << what << " a " << grid[i];
    for (size_t i = best; i + 1 < e.size(); ++i) EXPECT_LT(e[i], e[i + 1] * (1 + 1e-3)) << what << " a " << grid[i];
    EXPECT_GT(e.front(), 1.5 * e[best]) << what;  // a real minimum, not a plateau
    EXPECT_GT(e.back(), 1.2 * e[best]) << what;
    // The golden section finds the grid's minimum (to the grid's step) and is no worse.
    EXPECT_NEAR(s.exponent, grid[best], 0.04) << what;
    EXPECT_LE(s.error, e[best] * (1 + 1e-9)) << what;
  }
}

TEST(PowerSearch, EveryCodeSurvivesTheRoundTrip) {
  for (int bits = 2; bits <= 8; ++bits) {
    for (double a : {0.2, 0.35, 0.5, 0.7, 1.0, 1.25, 1.5}) {
      const Grid g = Grid::power(bits, a);
      const at::Tensor codes = at::arange(g.qmin(), g.qmax() + 1, at::kShort).reshape({1, -1});
      for (double scale : {1.0, 0.0371, 123.5}) {
        const at::Tensor s = at::full({1, 1}, scale);
        const at::Tensor back = quantize_rows(dequantize_rows(codes, g, s, {}), g, s, {});
        EXPECT_TRUE(at::equal(back, codes)) << bits << " bits a " << a << " scale " << scale;
      }
    }
  }
}

TEST(PowerSearch, FiniteOverTenSeeds) {
  for (uint64_t seed = 0; seed < 10; ++seed) {
    // Mixed scales, a zero channel, tiny values and a lone outlier.
    at::Tensor w = (seed % 2 ? laplace({16, 200}, seed) : gaussian({16, 200}, seed)) *
                   at::logspace(-6, 2, 16).unsqueeze(1).to(at::kFloat);
    w[3].zero_();
    w[5][7] = 1e4f;
    for (int bits : {3, 4, 8}) {
      const PowerSearch s = search_power_exponent({w}, {0}, Granularity::group(32), bits);
      ASSERT_TRUE(std::isfinite(s.error) && std::isfinite(s.exponent)) << seed;
      EXPECT_LE(s.error, s.uniform_error);
      EXPECT_GE(s.exponent, 0.2);
      EXPECT_LE(s.exponent, 1.5);
      const QuantizedTensor q = power_quantize_weight(w, 0, Granularity::channel(), bits, s.exponent, 16, "w");
      const at::Tensor d = q.dequantize();
      ASSERT_TRUE(at::isfinite(d).all().item<bool>()) << seed << " " << bits;
      EXPECT_EQ(d[3].abs().sum().item<float>(), 0.0f);
      EXPECT_TRUE(at::equal(q.scales, q.scales.to(at::kHalf).to(at::kFloat)));
    }
  }
}

TEST(PowerSearch, GroupsWithAShortLastGroup) {
  // R = 100, group:32 -> groups of 32, 32, 32 and 4, each with its own max |w| scale; the padding adds
  // no error.
  const at::Tensor w = laplace({5, 100}, 3);
  const int bits = 4;
  const double a = 0.6;
  const Grid grid = Grid::power(bits, a);
  double reference = 0;
  for (int64_t b = 0; b < 100; b += 32) {
    const at::Tensor part = w.slice(1, b, std::min<int64_t>(100, b + 32));
    const at::Tensor s = std::get<0>(part.abs().max(1, true));
    reference += (dequantize_rows(quantize_rows(part, grid, s, {}), grid, s, {}) - part)
                     .to(at::kDouble)
                     .pow(2)
                     .sum()
                     .item<double>();
  }
  EXPECT_NEAR(power_error(w, 0, Granularity::group(32), bits, a), reference, 1e-9 * reference);
  const QuantizedTensor q = power_quantize_weight(w, 0, Granularity::group(32), bits, a, 32, "w");
  EXPECT_EQ(q.scales.sizes(), at::IntArrayRef({5, 4}));
  EXPECT_NEAR((q.dequantize() - w).to(at::kDouble).pow(2).sum().item<double>(), reference, 1e-6 * reference);
  // The search runs on the same rows.
  const PowerSearch s = search_power_exponent({w}, {0}, Granularity::group(32), bits);
  EXPECT_NEAR(s.error, power_error(w, 0, Granularity::group(32), bits, s.exponent), 1e-9 * s.error);
}

TEST(PowerSearch, SeveralTensorsShareOneExponent) {
  // Large enough for e(a) to be smooth: the sum of two unimodal curves has its minimum between theirs.
  const at::Tensor a = gaussian({64, 512}, 4), b = laplace({64, 512}, 5).t();  // b: MatMul layout, out axis 1
  const PowerSearch s = search_power_exponent({a, b}, {0, 1}, Granularity::channel(), 4);
  const double sum = power_error(a, 0, Granularity::channel(), 4, s.exponent) +
                     power_error(b, 1, Granularity::channel(), 4, s.exponent);
  EXPECT_NEAR(s.error, sum, 1e-9 * sum);
  // The shared exponent sits between the two tensors' own.
  const double ea = search_power_exponent({a}, {0}, Granularity::channel(), 4).exponent;
  const double eb = search_power_exponent({b}, {1}, Granularity::channel(), 4).exponent;
  EXPECT_GE(s.exponent, std::min(ea, eb) - 1e-3);
  EXPECT_LE(s.exponent, std::max(ea, eb) + 1e-3);
  EXPECT_THROW(search_power_exponent({a, b}, {0}, Granularity::channel(), 4), Error);
}

TEST(PowerSearch, WidensPastOneAndStopsAtTwoBits) {
  // Weights massed near +-M want levels spread toward the ends: a* > 1, found after widening to 1.5.
  at::manual_seed(6);
  const at::Tensor u = at::rand({16, 512});
  const at::Tensor w = (1 - u.pow(3)) * (at::rand({16, 512}) < 0.5).to(at::kFloat).mul(2).sub(1);
  const PowerSearch s = search_power_exponent({w}, {0}, Granularity::channel(), 4);
  EXPECT_GT(s.exponent, 1.0);
  EXPECT_LE(s.exponent, 1.5);
  EXPECT_LT(s.error, s.uniform_error);
  // 2 bits: levels {-M, 0, M} whatever a is; a = 1 after one evaluation.
  const PowerSearch two = search_power_exponent({gaussian({8, 64}, 7)}, {0}, Granularity::channel(), 2);
  EXPECT_EQ(two.exponent, 1.0);
  EXPECT_EQ(two.evaluations, 1);
  EXPECT_EQ(two.error, two.uniform_error);
}

TEST(PowerSearch, RejectsBadInput) {
  at::Tensor w = gaussian({4, 8}, 8);
  EXPECT_THROW(search_power_exponent({w}, {0}, Granularity::channel(), 9), Error);
  EXPECT_THROW(search_power_exponent({w}, {0}, Granularity::channel(), 4, 0.0, 1.0), Error);
  w[0][0] = INFINITY;
  EXPECT_THROW(power_error(w, 0, Granularity::channel(), 4, 0.5), Error);
  EXPECT_THROW(power_quantize_weight(w, 0, Granularity::channel(), 4, 0.5, 32, "fc.weight"), Error);
}

}  // namespace
}  // namespace pare::quant
