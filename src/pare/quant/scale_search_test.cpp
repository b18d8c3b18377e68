// Scale choice on known distributions: the MSE search beats min-max where clipping pays (heavy tails,
// few bits), percentile clipping ignores a lone outlier, zero-point grids keep 0 exact.
#include <gtest/gtest.h>

#include "pare/error.h"
#include "pare/quant/fake_quantize.h"
#include "pare/quant/quantize_weight.h"
#include "pare/quant/scale_search.h"

namespace pare::quant {
namespace {

at::Tensor laplace(at::IntArrayRef shape, uint64_t seed) {
  at::manual_seed(seed);
  const at::Tensor u = at::rand(shape) - 0.5;
  return -u.sign() * at::log1p(-2 * u.abs());  // inverse CDF of Laplace(0, 1)
}

double mse(const at::Tensor& x, const Grid& g, const ScaleOptions& o) {
  const RowScales s = choose_scales(x, g, o);
  const at::Tensor d = dequantize_rows(quantize_rows(x, g, s.scale, s.zero_point), g, s.scale, s.zero_point);
  return (d - x).pow(2).mean().item<double>();
}

TEST(ScaleSearch, MseBeatsMinMaxOnLaplaceAt3Bits) {
  const at::Tensor x = laplace({16, 4096}, 1);
  const Grid g = Grid::uniform(3);
  ScaleOptions minmax, search;
  search.method = ScaleMethod::Mse;
  const double e_minmax = mse(x, g, minmax), e_mse = mse(x, g, search);
  // Laplace tails make min-max spend its 7 levels on rare values; clipping wins by a wide margin.
  EXPECT_LT(e_mse, 0.5 * e_minmax) << e_mse << " vs " << e_minmax;
  // Per tensor too (one row).
  EXPECT_LT(mse(x.reshape({1, -1}), g, search), 0.5 * mse(x.reshape({1, -1}), g, minmax));
}

TEST(ScaleSearch, MseNeverLosesToMinMax) {
  // Ratio 1 is a candidate, so the search is at least as good on any data, here a uniform one where
  // min-max is already near optimal.
  at::manual_seed(2);
  const at::Tensor x = at::rand({8, 512}) * 2 - 1;
  for (int bits : {2, 4, 8}) {
    ScaleOptions search;
    search.method = ScaleMethod::Mse;
    EXPECT_LE(mse(x, Grid::uniform(bits), search), mse(x, Grid::uniform(bits), {}) + 1e-12) << bits;
  }
}

TEST(ScaleSearch, PercentileIgnoresALoneOutlier) {
  at::manual_seed(3);
  at::Tensor x = at::randn({1, 10000});
  x[0][17] = 1000.0f;
  ScaleOptions pct;
  pct.method = ScaleMethod::Percentile;
  pct.percentile = 99.9;
  const RowScales s = choose_scales(x, Grid::uniform(8), pct);
  EXPECT_LT(s.scale.item<double>() * 127, 5.0);  // about the 99.9th |x| percentile (3.3)
  EXPECT_GT(choose_scales(x, Grid::uniform(8), {}).scale.item<double>() * 127, 999.0);  // min-max: the outlier
  // Everything but the outlier is reconstructed far better (min-max rounds most of it to 0).
  const Grid g = Grid::uniform(8);
  auto bulk_error = [&](const RowScales& r) {
    const at::Tensor d = dequantize_rows(quantize_rows(x, g, r.scale, r.zero_point), g, r.scale, r.zero_point);
    at::Tensor e = (d - x).pow(2);
    e[0][17] = 0.0f;
    return e.sum().item<double>();
  };
  EXPECT_LT(bulk_error(s), 0.01 * bulk_error(choose_scales(x, g, {})));
}

TEST(ScaleSearch, ZeroPointGridKeepsZeroExactAndFitsOneSidedData) {
  at::manual_seed(4);
  const at::Tensor x = at::rand({4, 1000}) * 6 + 0.5;  // all positive, like post-ReLU values
  const Grid u8 = Grid::uniform(8, /*symmetric=*/false, /*is_signed=*/false);
  const RowScales s = choose_scales(x, u8, {});
  EXPECT_TRUE((s.zero_point == 0).all().item<bool>());  // the range is [0, max]
  const at::Tensor zero = at::zeros({4, 1});
  EXPECT_TRUE(
      at::equal(dequantize_rows(quantize_rows(zero, u8, s.scale, s.zero_point), u8, s.scale, s.zero_point), zero));
  // Half the error of a symmetric grid, which wastes its negative half.
  EXPECT_LT(mse(x, u8, {}), 0.5 * mse(x, Grid::uniform(8), {}));
  // A range that straddles 0 gets a zero point inside the code range.
  const at::Tensor y = at::rand({1, 100}) * 4 - 1;
  const RowScales t = choose_scales(y, Grid::uniform(4, false, false), {});
  EXPECT_GT(t.zero_point.item<int>(), 0);
  EXPECT_LT(t.zero_point.item<int>(), 15);
}

TEST(ScaleSearch, Float16ScalesAreFloat16Exact) {
  at::manual_seed(5);
  const at::Tensor x = at::randn({32, 128});
  ScaleOptions o;
  o.scale_bits = 16;
  const at::Tensor s = choose_scales(x, Grid::uniform(4), o).scale;
  EXPECT_TRUE(at::equal(s, s.to(at::kHalf).to(at::kFloat)));
}

TEST(ScaleSearch, RejectsBadOptions) {
  ScaleOptions o;
  o.method = ScaleMethod::Percentile;
  o.percentile = 120;
  EXPECT_THROW(choose_scales(at::ones({1, 4}), Grid::uniform(8), o), Error);
  EXPECT_THROW(parse_scale_method("entropy"), Error);
  EXPECT_EQ(parse_scale_method("mse"), ScaleMethod::Mse);
}

// imatrix: on a weight whose input channels differ in importance by orders of magnitude, the weighted search
// trades error on unimportant columns for error on important ones, so the importance-weighted error falls
// below that of the unweighted search (and min-max), through quantize_weight's per-column importance.
TEST(ScaleSearch, ImatrixLowersTheImportanceWeightedError) {
  const at::Tensor w = laplace({32, 256}, 5);
  at::Tensor imp = at::full({256}, 1e-3);
  imp.narrow(0, 0, 16).fill_(1.0);  // a few important inputs (outlier activations)
  imp = imp.index_select(0, at::randperm(256));
  auto weighted_error = [&](ScaleMethod m, const std::string& gran) {
    WeightQuantOptions o;
    o.grid = Grid::uniform(3);
    o.granularity = Granularity::parse(gran);
    o.scale.method = m;
    o.scale.importance = imp;
    const at::Tensor d = quantize_weight(w, 0, o, "w").dequantize();
    return ((d - w).pow(2) * imp).sum().item<double>();
  };
  for (const std::string gran : {"channel", "group:32", "tensor"}) {
    const double mse = weighted_error(ScaleMethod::Mse, gran), im = weighted_error(ScaleMethod::Imatrix, gran);
    EXPECT_LT(im, (gran == "channel" ? 0.9 : 1.0) * mse) << gran << ": imatrix " << im << " vs mse " << mse;
    EXPECT_LT(im, weighted_error(ScaleMethod::MinMax, gran)) << gran;
  }
  WeightQuantOptions bad;
  bad.scale.method = ScaleMethod::Imatrix;
  bad.scale.importance = at::ones({7});
  EXPECT_THROW(quantize_weight(w, 0, bad, "w"), Error);  // one importance per input channel
  EXPECT_EQ(parse_scale_method("imatrix"), ScaleMethod::Imatrix);
}

}  // namespace
}  // namespace pare::quant
