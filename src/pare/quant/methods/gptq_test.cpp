// GPTQ against the algorithm it implements: a naive float64 optimal-brain-surgeon loop that quantizes one
// column at a time and updates the full inverse Hessian after each; lazy batching exact; error feedback lowers
// the layer's output error below RTN's; dead inputs; and the method end to end on a zoo model.
#include "pare/quant/methods/gptq.h"

#include <gtest/gtest.h>

#include "pare/error.h"
#include "pare/exec/executor.h"
#include "pare/quant/methods/rtn.h"
#include "pare/quant/quantize_model.h"
#include "pare/quant/zoo_calibration_test_util.h"

namespace pare::quant {
namespace {

WeightQuantOptions int4(Granularity g = Granularity::channel()) {
  WeightQuantOptions o;
  o.grid = Grid::uniform(4);
  o.granularity = g;
  return o;
}

// Correlated inputs (as real activations are), their mean outer product, and a weight.
struct Problem {
  at::Tensor x, h, w;
};
Problem problem(int64_t rows, int64_t cols, at::ScalarType t, uint64_t seed) {
  at::manual_seed(seed);
  const at::Tensor mix = at::randn({cols, cols}, t) / std::sqrt(static_cast<double>(cols)) + at::eye(cols, t);
  Problem p;
  p.x = at::randn({512, cols}, t).matmul(mix);
  p.h = p.x.t().matmul(p.x) / 512.0;
  p.w = at::randn({rows, cols}, t);
  return p;
}

// The textbook OBS loop in float64: quantize column `order[i]`, push its error onto the remaining columns
// through the inverse Hessian, then eliminate that column from the inverse.
at::Tensor naive_obs(const Problem& p, const WeightQuantOptions& base, double damp, const at::Tensor& order) {
  const QuantizedTensor q0 = quantize_weight(p.w, 0, base, "w");
  at::Tensor W = p.w.clone(), H = p.h.clone();
  H.diagonal().add_(damp * H.diagonal().mean().item<double>());
  at::Tensor Hinv = at::inverse(H), out = at::zeros_like(W);
  for (int64_t i = 0; i < order.size(0); ++i) {
    const int64_t j = order[i].item<int64_t>();
    const int64_t g = base.granularity.kind == Granularity::Kind::Group ? j / base.granularity.group_size : 0;
    const at::Tensor s = q0.scales.narrow(1, g, 1);
    const at::Tensor c = quantize_rows(W.narrow(1, j, 1), q0.grid, s, at::Tensor());
    const at::Tensor qd = dequantize_rows(c, q0.grid, s, at::Tensor()).to(at::kDouble);
    out.narrow(1, j, 1).copy_(qd);
    const at::Tensor err = (W.narrow(1, j, 1) - qd) / Hinv[j][j];
    W.sub_(err.matmul(Hinv.narrow(0, j, 1)));
    Hinv = Hinv - Hinv.narrow(1, j, 1).matmul(Hinv.narrow(0, j, 1)) / Hinv[j][j];
  }
  return out;
}

TEST(Gptq, EqualsANaiveFloat64ObsLoop) {
  for (const Granularity g : {Granularity::channel(), Granularity{Granularity::Kind::Group, 16}}) {
    const Problem p = problem(12, 64, at::kDouble, 3);
    GptqOptions o;
    o.static_groups = true;  // the naive loop keeps RTN's scales
    const at::Tensor got = gptq_quantize(p.w, p.h, int4(g), o, "w").dequantize_matrix().to(at::kDouble);
    const at::Tensor want = naive_obs(p, int4(g), o.damp, at::arange(64, at::kLong));
    EXPECT_LT((got - want).abs().max().item<double>(), 1e-6) << g.str();
    o.act_order = true;
    const at::Tensor ordered = gptq_quantize(p.w, p.h, int4(g), o, "w").dequantize_matrix().to(at::kDouble);
    const at::Tensor by_energy = at::argsort(p.h.diagonal(), 0, true);
    EXPECT_LT((ordered - naive_obs(p, int4(g), o.damp, by_energy)).abs().max().item<double>(), 1e-6) << g.str();
  }
}

TEST(Gptq, LazyBatchesGiveTheSameCodes) {
  const Problem p = problem(8, 50, at::kDouble, 5);
  GptqOptions o;
  o.block_size = 50;
  const at::Tensor whole = gptq_quantize(p.w, p.h, int4(), o, "w").codes;
  for (int64_t b : {1, 7, 16}) {
    o.block_size = b;
    EXPECT_TRUE(at::equal(gptq_quantize(p.w, p.h, int4(), o, "w").codes, whole)) << b;
  }
}

// Dynamic group scales read the group's weights as updated so far: with lazy batches that hold whole groups
// the result does not depend on the batch size, and the scales differ from RTN's static ones.
TEST(Gptq, DynamicGroupScalesFollowTheUpdatedWeights) {
  const Problem p = problem(8, 64, at::kDouble, 11);
  const Granularity g{Granularity::Kind::Group, 16};
  GptqOptions o;
  o.static_groups = false;
  o.block_size = 64;
  const QuantizedTensor whole = gptq_quantize(p.w, p.h, int4(g), o, "w");
  for (int64_t b : {16, 32}) {
    o.block_size = b;
    const QuantizedTensor q = gptq_quantize(p.w, p.h, int4(g), o, "w");
    EXPECT_TRUE(at::equal(q.codes, whole.codes)) << b;
    EXPECT_TRUE(at::equal(q.scales, whole.scales)) << b;
  }
  EXPECT_FALSE(at::equal(whole.scales, quantize_weight(p.w, 0, int4(g), "w").scales));
  EXPECT_TRUE(at::equal(whole.scales.narrow(1, 0, 1), quantize_weight(p.w, 0, int4(g), "w").scales.narrow(1, 0, 1)));
}

TEST(Gptq, LowersTheLayersOutputErrorBelowRtn) {
  const Problem p = problem(64, 128, at::kFloat, 7);
  for (const Granularity g : {Granularity::channel(), Granularity{Granularity::Kind::Group, 32}}) {
    const at::Tensor rtn = quantize_weight(p.w, 0, int4(g), "w").dequantize_matrix();
    const at::Tensor gptq = gptq_quantize(p.w, p.h, int4(g), {}, "w").dequantize_matrix();
    const double e_rtn = p.x.matmul((p.w - rtn).t()).pow(2).mean().item<double>();
    const double e_gptq = p.x.matmul((p.w - gptq).t()).pow(2).mean().item<double>();
    EXPECT_LT(e_gptq, 0.7 * e_rtn) << g.str();
  }
}

TEST(Gptq, DeadInputsAndBadHessians) {
  Problem p = problem(8, 32, at::kFloat, 9);
  p.x.narrow(1, 5, 1).zero_();
  p.h = p.x.t().matmul(p.x) / 512.0;
  const at::Tensor q = gptq_quantize(p.w, p.h, int4(), {}, "w").dequantize_matrix();
  EXPECT_TRUE(at::isfinite(q).all().item<bool>());
  EXPECT_EQ(q.narrow(1, 5, 1).abs().max().item<double>(), 0.0);  // an input that is always 0: weight 0
  p.h[1][2] = std::nan("");
  EXPECT_THROW(gptq_quantize(p.w, p.h, int4(), {}, "w"), Error);
}

// On a zoo ResNet with calibration images: every conv and the classifier solved, and the model's output on
// the calibration data closer to the float model's than RTN's at W3.
TEST(Gptq, QuantizesAZooModelCloserToFloatThanRtn) {
  const testing::ZooCalibration z = testing::small_resnet_with_calibration();
  const ir::Graph& g = z.graph;
  const data::Dataset& calib = z.calib;
  QuantizeOptions o;
  o.recipe.wbits = 3;
  o.recipe.abits = 0;
  o.calib = &calib;
  o.calibration.batch_size = 32;
  const QuantizeResult rtn = quantize_model(g, o);
  o.recipe = Recipe::from_json({{"method", "gptq"}, {"wbits", 3}, {"abits", 0}}, "");
  const QuantizeResult gptq = quantize_model(g, o);
  for (const auto& l : gptq.layers) EXPECT_TRUE(l.note.empty()) << l.plan.layer.node << ": " << l.note;
  EXPECT_LT(testing::output_error(gptq, calib), testing::output_error(rtn, calib));
}

}  // namespace
}  // namespace pare::quant
