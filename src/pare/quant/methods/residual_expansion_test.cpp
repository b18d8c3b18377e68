// REx residual expansion (rex-pipe.md, "What to measure" 1): K = 1 is RTN bit for bit, the per-row
// infinity-norm bound holds at every order, the error shrinks by about r = 2n per order, sparse terms pick
// the rows with the largest residual, the cost factor is 1 + sum of the expanded fractions, and a package
// keeps the terms exactly.
#include "pare/quant/methods/residual_expansion.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "pare/error.h"
#include "pare/exec/executor.h"
#include "pare/io/pare_package.h"
#include "pare/ir/zoo/zoo.h"
#include "pare/quant/export/package_export.h"
#include "pare/quant/format_types.h"
#include "pare/quant/quantize_model.h"
#include "pare/quant/quantize_weight.h"

namespace pare::quant {
namespace {

TermQuantizer rtn(int bits, Granularity g = Granularity::channel()) {
  return [bits, g](const at::Tensor& w, int64_t axis) {
    WeightQuantOptions o;
    o.grid = Grid::uniform(bits);
    o.granularity = g;
    return quantize_weight(w, axis, o, "w");
  };
}

at::Tensor gaussian(std::vector<int64_t> shape, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::normal(0, 1, shape, gen);
}

TEST(Rex, OrderOneIsRoundToNearestBitForBit) {
  const at::Tensor w = gaussian({32, 8, 3, 3}, 1);
  const QuantizedWeight a = expand_residuals(w, 0, {1, 1.0}, rtn(4), "w");
  const QuantizedTensor b = rtn(4)(w, 0);
  EXPECT_TRUE(a.terms.empty());
  EXPECT_TRUE(at::equal(a.main.codes, b.codes));
  EXPECT_TRUE(at::equal(a.main.scales, b.scales));
  EXPECT_TRUE(at::equal(a.dequantize(), b.dequantize()));
  EXPECT_DOUBLE_EQ(a.cost_factor(), 1.0);
}

TEST(Rex, InfinityNormBoundHoldsAtEveryOrder) {
  for (int bits : {2, 3, 4, 8}) {
    const double n = (1 << (bits - 1)) - 1, r = 2 * n;
    for (uint64_t seed : {1, 2, 3}) {
      const at::Tensor w = seed == 3 ? at::rand({24, 300}, at::make_generator<at::CPUGeneratorImpl>(seed)) - 0.5
                                     : gaussian({24, 300}, seed) * (seed == 2 ? 3.0 : 1.0);
      const at::Tensor lambda1 = w.abs().amax(1) / n;  // first-order scale per row
      for (int k = 1; k <= 4; ++k) {
        const QuantizedWeight q = expand_residuals(w, 0, {k, 1.0}, rtn(bits), "w");
        const at::Tensor err = (w - q.dequantize()).abs().amax(1);
        const at::Tensor bound = lambda1 / 2 * std::pow(r, -(k - 1));
        // Float32 rounding of the sums: a few ulps of the weights' magnitude.
        EXPECT_TRUE((err <= bound + 1e-6 * w.abs().amax(1)).all().item<bool>())
            << "bits " << bits << " K " << k << " seed " << seed << ": worst excess "
            << (err - bound).max().item<double>();
      }
    }
  }
}

TEST(Rex, ErrorShrinksByAboutTwoNPerOrderOnGaussianWeights) {
  const at::Tensor w = gaussian({64, 1024}, 4);
  for (int bits : {3, 4}) {
    const double r = 2.0 * ((1 << (bits - 1)) - 1);
    double previous = 0;
    for (int k = 1; k <= 3; ++k) {
      const double rms =
          (w - expand_residuals(w, 0, {k, 1.0}, rtn(bits), "w").dequantize()).pow(2).mean().sqrt().item<double>();
      if (k > 1) {
        const double ratio = previous / rms;
        EXPECT_GT(ratio, 0.75 * r) << "bits " << bits << " K " << k;
        EXPECT_LT(ratio, 1.25 * r) << "bits " << bits << " K " << k;
      }
      previous = rms;
    }
  }
}

TEST(Rex, SparseTermsExpandTheRowsWithTheLargestResidual) {
  at::Tensor w = gaussian({40, 64}, 5) * 0.1;
  // Rows 3, 17 and 31 hold outliers: their first-order scale is large, so their residual is too.
  for (int64_t row : {3, 17, 31}) w[row][7] = 5.0;
  const QuantizedWeight q = expand_residuals(w, 0, {2, 0.075}, rtn(4), "w");  // ceil(0.075 * 40) = 3 rows
  ASSERT_EQ(q.terms.size(), 1u);
  ASSERT_TRUE(q.terms[0].rows.defined());
  EXPECT_EQ(std::vector<int64_t>(q.terms[0].rows.data_ptr<int64_t>(), q.terms[0].rows.data_ptr<int64_t>() + 3),
            (std::vector<int64_t>{3, 17, 31}));
  // The same choice as ranking the residual of the first term directly.
  const at::Tensor residual = w - rtn(4)(w, 0).dequantize();
  const at::Tensor top = std::get<0>(std::get<1>(residual.pow(2).sum(1).topk(3)).sort());
  EXPECT_TRUE(at::equal(top, q.terms[0].rows));
  // Rows left out are exactly the first-order values.
  const at::Tensor d = q.dequantize(), d1 = rtn(4)(w, 0).dequantize();
  EXPECT_TRUE(at::equal(d[0], d1[0]));
  EXPECT_FALSE(at::equal(d[3], d1[3]));
}

TEST(Rex, CostFactorAndStorageCountTheExpandedRows) {
  const at::Tensor w = gaussian({100, 48}, 6);
  for (double gamma : {0.25, 0.5, 1.0}) {
    const QuantizedWeight q = expand_residuals(w, 0, {3, gamma}, rtn(4), "w");
    EXPECT_DOUBLE_EQ(q.cost_factor(), 1 + 2 * gamma) << gamma;
    EXPECT_DOUBLE_EQ(q.code_bits(), 100 * 48 * 4 * (1 + 2 * gamma)) << gamma;
    // Scales: 32 bits per expanded row per term, plus a 100-bit row mask per sparse term.
    const double scales = 32 * 100 * (1 + 2 * gamma), masks = gamma < 1 ? 2 * 100 : 0;
    EXPECT_DOUBLE_EQ(q.overhead_bits(), scales + masks) << gamma;
  }
}

TEST(Rex, GroupGranularityTermsKeepTheirGroups) {
  const at::Tensor w = gaussian({16, 200}, 7);
  const QuantizedWeight q = expand_residuals(w, 0, {2, 0.5}, rtn(4, Granularity::group(64)), "w");
  ASSERT_EQ(q.terms.size(), 1u);
  EXPECT_EQ(q.terms[0].q.scales.sizes(), (std::vector<int64_t>{8, 4}));
  EXPECT_LT((w - q.dequantize()).pow(2).sum().item<double>(),
            (w - rtn(4, Granularity::group(64))(w, 0).dequantize()).pow(2).sum().item<double>());
}

TEST(Rex, BadOptionsAreErrors) {
  const at::Tensor w = gaussian({4, 4}, 8);
  EXPECT_THROW(expand_residuals(w, 0, {0, 1.0}, rtn(4), "w"), Error);
  EXPECT_THROW(expand_residuals(w, 0, {2, 0.0}, rtn(4), "w"), Error);
  EXPECT_THROW(expand_residuals(w, 0, {2, 1.5}, rtn(4), "w"), Error);
  nlohmann::json j{{"method", "rex"}, {"order", 0}};
  EXPECT_THROW(Recipe::from_json(j, ""), Error);
  j = {{"method", "rex"}, {"sparsity", 0}};
  EXPECT_THROW(Recipe::from_json(j, ""), Error);
  j = {{"method", "rtn"}, {"order", 2}};  // an option the method does not read
  EXPECT_THROW(Recipe::from_json(j, ""), Error);
  j = {{"method", "tquant"}, {"wbits", 4}};
  EXPECT_THROW(Recipe::from_json(j, ""), Error);
}

TEST(Rex, PackageKeepsTermsExactly) {
  ir::zoo::ZooOptions zo;
  zo.width = 0.5;
  zo.depth = 8;
  zo.seed = 7;
  const ir::Graph g = ir::zoo::build("resnet20", zo);
  QuantizeOptions o;
  o.recipe.method = "rex";
  o.recipe.wbits = 3;
  o.recipe.abits = 0;
  o.recipe.options["order"] = 3;
  o.recipe.options["sparsity"] = 0.25;
  const QuantizeResult r = quantize_model(g, o);
  EXPECT_GT(r.cost_factor(), 1.4);
  EXPECT_LT(r.cost_factor(), 1.6);
  const std::string path =
      (std::filesystem::temp_directory_path() / ("pare_rex_test_" + std::to_string(::getpid()) + ".pare")).string();
  std::remove(path.c_str());
  io::save_package(path, r.qdq, package_weights(r.layers), {});
  const io::Package p = io::load_package(path);
  std::remove(path.c_str());
  ASSERT_EQ(p.weights.size(), r.layers.size());
  for (size_t i = 0; i < p.weights.size(); ++i) {
    ASSERT_EQ(p.weights[i].q.terms.size(), 2u);
    EXPECT_TRUE(at::equal(p.weights[i].q.terms[1].rows, r.layers[i].weight.terms[1].rows));
    EXPECT_TRUE(at::equal(p.weights[i].q.dequantize(), r.layers[i].weight.dequantize()));
  }
  at::manual_seed(3);
  const at::Tensor x = at::rand({4, 1, 28, 28});
  at::NoGradGuard no_grad;
  ir::Graph fake = r.fake.clone(), loaded = p.graph.clone();
  exec::Executor a(loaded), b(fake);
  EXPECT_TRUE(at::equal(a.run({x}).at(0), b.run({x}).at(0)));
}

}  // namespace
}  // namespace pare::quant
