// QuantizedTensor: grids, granularities and layouts round-trip within their rounding bound, storage is
// counted, and bad weights are refused by name.
#include <gtest/gtest.h>

#include <limits>

#include "pare/error.h"
#include "pare/quant/fake_quantize.h"
#include "pare/quant/format_types.h"
#include "pare/quant/quantize_weight.h"

namespace pare::quant {
namespace {

WeightQuantOptions options(Grid g, Granularity gran = Granularity::channel()) {
  WeightQuantOptions o;
  o.grid = g;
  o.granularity = gran;
  return o;
}

TEST(Grid, CodeRanges) {
  EXPECT_EQ(Grid::uniform(4).qmin(), -7);
  EXPECT_EQ(Grid::uniform(4).qmax(), 7);
  EXPECT_EQ(Grid::uniform(8, false, true).qmin(), -128);
  EXPECT_EQ(Grid::uniform(8, false, true).qmax(), 127);
  EXPECT_EQ(Grid::uniform(8, false, false).qmin(), 0);
  EXPECT_EQ(Grid::uniform(8, false, false).qmax(), 255);
  EXPECT_EQ(Grid::power(3, 0.5).qmax(), 3);
  EXPECT_EQ(Grid::ternary().qmin(), -1);
  EXPECT_EQ(Grid::codebook(at::linspace(-1, 1, 16)).bits, 4);
  EXPECT_THROW(Grid::uniform(1).validate(), Error);
  EXPECT_THROW(Grid::uniform(9).validate(), Error);
  EXPECT_THROW(Grid::power(4, 0).validate(), Error);
  EXPECT_THROW(Grid::codebook(at::ones({3})), Error);
  EXPECT_THROW(Grid::codebook(at::tensor({1.0f, 0.0f})).validate(), Error);  // not ascending
}

TEST(QuantizedTensor, PerChannelInt8ErrorIsWithinHalfAStep) {
  at::manual_seed(1);
  // Channels of very different magnitudes: per-channel scales follow each one.
  const at::Tensor w = at::randn({8, 4, 3, 3}) * at::logspace(-3, 1, 8).reshape({8, 1, 1, 1});
  const QuantizedTensor q = quantize_weight(w, 0, options(Grid::uniform(8)), "conv.weight");
  EXPECT_EQ(q.scales.sizes(), at::IntArrayRef({8, 1}));
  EXPECT_EQ(q.codes.scalar_type(), at::kShort);
  const at::Tensor err = (q.dequantize() - w).abs().reshape({8, -1}).amax(1);
  EXPECT_TRUE((err <= q.scales.flatten() * 0.5 + 1e-7).all().item<bool>());
  EXPECT_TRUE((q.codes.abs() <= 127).all().item<bool>());
}

TEST(QuantizedTensor, OutputAxisOneScalesColumns) {
  // A MatMul weight [K, N]: output channels are the columns.
  at::manual_seed(2);
  at::Tensor w = at::randn({64, 3});
  w.select(1, 2).mul_(100);
  const QuantizedTensor q = quantize_weight(w, 1, options(Grid::uniform(4)), "mm.weight");
  EXPECT_EQ(q.scales.sizes(), at::IntArrayRef({3, 1}));
  EXPECT_EQ(q.dequantize().sizes(), w.sizes());
  const at::Tensor per_col = (q.dequantize() - w).abs().amax(0);
  EXPECT_LT(per_col[0].item<double>(), 0.5);  // not ruined by column 2's range
  EXPECT_GT(q.scales[2][0].item<double>(), 50 * q.scales[0][0].item<double>());
}

TEST(QuantizedTensor, GroupsAlongTheReductionAxisWithAShortLastGroup) {
  at::manual_seed(3);
  at::Tensor w = at::randn({4, 300});
  w[1][260] = 50.0f;  // an outlier in row 1's last group (elements 256..299)
  WeightQuantOptions o = options(Grid::uniform(4), Granularity::group(128));
  const QuantizedTensor q = quantize_weight(w, 0, o, "fc.weight");
  EXPECT_EQ(q.scales.sizes(), at::IntArrayRef({4, 3}));
  EXPECT_NEAR(q.scales[1][2].item<double>(), 50.0 / 7, 1e-5);
  EXPECT_LT(q.scales[1][0].item<double>(), 1.0);  // other groups of that row keep a fine step
  const at::Tensor d = q.dequantize();
  EXPECT_EQ(d.sizes(), w.sizes());
  const at::Tensor err = (d - w).abs();
  EXPECT_LT(err.slice(1, 0, 256).max().item<double>(), 0.5);
  // A reduction shorter than the group is one group per row (per-channel).
  EXPECT_EQ(quantize_weight(at::randn({5, 9}), 0, o, "first").scales.sizes(), at::IntArrayRef({5, 1}));
}

TEST(QuantizedTensor, ZeroAndConstantChannelsAreExact) {
  at::Tensor w = at::randn({3, 16});
  w[0].zero_();
  w[1].fill_(-0.75f);
  for (const Grid& g : {Grid::uniform(4), Grid::uniform(4, false, false), Grid::power(4, 0.6), Grid::ternary()}) {
    const QuantizedTensor q = quantize_weight(w, 0, options(g), "w");
    const at::Tensor d = q.dequantize();
    EXPECT_TRUE(at::equal(d[0], w[0])) << g.str();
    EXPECT_TRUE(at::allclose(d[1], w[1], 0, 1e-6)) << g.str();
  }
}

TEST(QuantizedTensor, PowerGridFitsBellShapedWeightsBetterThanUniform) {
  // docs/methods/powerquant.md: at 4 bits per tensor, a Laplace tensor's error falls by about 60 %
  // at a = 0.5; a = 1 is the uniform grid exactly.
  at::manual_seed(4);
  const at::Tensor u = at::rand({1, 65536}) - 0.5;
  const at::Tensor w = -u.sign() * at::log1p(-2 * u.abs());
  auto err = [&](const Grid& g) {
    return (quantize_weight(w, 0, options(g, Granularity::tensor()), "w").dequantize() - w)
        .pow(2)
        .mean()
        .item<double>();
  };
  EXPECT_NEAR(err(Grid::power(4, 1.0)), err(Grid::uniform(4)), 1e-4 * err(Grid::uniform(4)));
  EXPECT_LT(err(Grid::power(4, 0.5)), 0.6 * err(Grid::uniform(4)));
}

TEST(QuantizedTensor, CodebookPicksTheNearestEntry) {
  const Grid g = Grid::codebook(at::tensor({-1.0f, -0.25f, 0.0f, 1.0f}));
  const at::Tensor x = at::tensor({-0.9f, -0.6f, -0.2f, 0.1f, 0.49f, 0.51f, 2.0f}).reshape({1, -1});
  const at::Tensor scale = at::ones({1, 1});
  const at::Tensor codes = quantize_rows(x, g, scale, {});
  EXPECT_TRUE(at::equal(codes.flatten().to(at::kLong), at::tensor({0, 1, 1, 2, 2, 3, 3}, at::kLong)));
  EXPECT_TRUE(at::equal(dequantize_rows(codes, g, scale, {}).flatten(),
                        at::tensor({-1.0f, -0.25f, -0.25f, 0.0f, 0.0f, 1.0f, 1.0f})));
}

TEST(QuantizedTensor, CountsScalesZeroPointsAndTablesInBitsPerWeight) {
  const at::Tensor w = at::randn({64, 256});
  EXPECT_DOUBLE_EQ(quantize_weight(w, 0, options(Grid::uniform(4)), "w").bits_per_weight(), 4.0 + 32.0 / 256);
  WeightQuantOptions g128 = options(Grid::uniform(4, false, false), Granularity::group(128));
  g128.scale.scale_bits = 16;
  EXPECT_DOUBLE_EQ(quantize_weight(w, 0, g128, "w").bits_per_weight(), 4.0 + (16.0 + 4.0) / 128);
  const QuantizedTensor cb = quantize_weight(w, 0, options(Grid::codebook(at::linspace(-1, 1, 4))), "w");
  EXPECT_DOUBLE_EQ(cb.storage_bits(), 64 * 256 * 2.0 + 64 * 32.0 + 4 * 16.0);
}

TEST(QuantizedTensor, RefusesNonFiniteWeightsByName) {
  at::Tensor w = at::randn({4, 4});
  w[2][3] = std::numeric_limits<float>::quiet_NaN();
  try {
    quantize_weight(w, 0, options(Grid::uniform(8)), "block3.fc1.weight");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.tensor_name(), "block3.fc1.weight");
    EXPECT_NE(std::string(e.what()).find("NaN"), std::string::npos);
  }
  EXPECT_THROW(quantize_weight(at::randn({4, 4}), 0, options(Grid::uniform(12)), "w"), Error);
}

TEST(FakeQuantize, ForwardMatchesQuantizerAndGradientsPassInsideTheRange) {
  at::manual_seed(5);
  const at::Tensor x = (at::randn({2, 50}) * 2).requires_grad_(true);
  const Grid g = Grid::uniform(4);
  const at::Tensor scale = at::full({2, 1}, 0.2);  // clip range +-1.4: part of x lies outside
  const at::Tensor y = fake_quantize_rows(x, g, scale, {});
  const at::Tensor ref = dequantize_rows(quantize_rows(x.detach(), g, scale, {}), g, scale, {});
  EXPECT_TRUE(at::allclose(y.detach(), ref, 0, 1e-6));
  y.sum().backward();
  const at::Tensor inside = (x.detach() / 0.2).round().abs() <= 7;
  EXPECT_TRUE(at::equal(x.grad(), inside.to(at::kFloat)));
}

}  // namespace
}  // namespace pare::quant
