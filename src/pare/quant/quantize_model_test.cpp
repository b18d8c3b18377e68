// The pipeline on real graphs (zoo builders): plans follow the recipe and refuse typos, W8A8 stays close
// to float, the QDQ export computes exactly what pare's fake-quant graph computes, and executor overrides
// fake-quantize with gradients.
#include <gtest/gtest.h>

#include "pare/error.h"
#include "pare/exec/executor.h"
#include "pare/ir/graph_builder.h"
#include "pare/ir/zoo/zoo.h"
#include "pare/quant/export/qdq_export.h"
#include "pare/quant/observers/observer.h"
#include "pare/quant/quantize_model.h"

namespace pare::quant {
namespace {

ir::Graph small_resnet() {
  ir::zoo::ZooOptions o;
  o.width = 0.5;
  o.depth = 8;
  o.seed = 3;
  return ir::zoo::build("resnet20", o);
}

data::Dataset random_images(int64_t n, uint64_t seed) {
  at::manual_seed(seed);
  data::Dataset d;
  d.inputs = at::rand({n, 1, 28, 28});
  d.labels = at::randint(0, 10, {n}, at::kLong);
  d.num_classes = 10;
  return d;
}

at::Tensor run(const ir::Graph& g, const at::Tensor& x) {
  exec::Executor ex(g);
  at::NoGradGuard no_grad;
  return ex.run({x}).at(0);
}

TEST(Plan, FollowsTheRecipe) {
  const ir::Graph g = small_resnet();
  const auto found = find_quantizable(g);
  ASSERT_GE(found.size(), 3u);
  EXPECT_EQ(found.front().op_type, "Conv");
  EXPECT_EQ(found.back().op_type, "Gemm");

  Recipe r;
  r.wbits = 4;
  r.abits = 8;
  r.first_last = "int8";
  r.layers.push_back({found[1].node, 3, std::nullopt, std::string("group:32")});
  r.exclude.push_back(found[2].node);
  const auto plans = plan_layers(g, r);
  ASSERT_EQ(plans.size(), found.size());
  EXPECT_EQ(plans.front().weight_grid.bits, 8);
  EXPECT_EQ(plans.back().weight_grid.bits, 8);
  EXPECT_EQ(plans[1].weight_grid.bits, 3);
  EXPECT_EQ(plans[1].granularity.str(), "group:32");
  EXPECT_EQ(plans[1].weight_scale.scale_bits, 16);
  EXPECT_FALSE(plans[2].quantize);
  EXPECT_EQ(plans[3].weight_grid.bits, 4);
  EXPECT_EQ(plans[3].abits, 8);

  r.first_last = "float";
  EXPECT_FALSE(plan_layers(g, r).front().quantize);
}

TEST(Plan, RefusesTyposBadBitsAndModelsWithoutLayers) {
  const ir::Graph g = small_resnet();
  Recipe r;
  r.exclude.push_back("no_such_layer");
  try {
    plan_layers(g, r);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no_such_layer"), std::string::npos);
  }
  EXPECT_THROW(Recipe::from_json({{"wbits", 9}}, "r.json"), Error);
  EXPECT_THROW(Recipe::from_json({{"abits", 1}}, "r.json"), Error);
  EXPECT_THROW(Recipe::from_json({{"wbit", 4}}, "r.json"), Error);  // unknown key
  EXPECT_THROW(Recipe::from_json({{"granularity", "group:100"}}, "r.json"), Error);
  EXPECT_NO_THROW(Recipe::from_json({{"abits", 0}, {"granularity", "group:64"}}, "r.json"));

  ir::GraphBuilder b("relu_only", 17);
  b.output(b.add1("Relu", {b.input("x", ir::DType::Float, {-1, 4})}, {}, "relu"), "y");
  EXPECT_THROW(plan_layers(b.finish(), Recipe{}), Error);
}

TEST(QuantizeModel, W8A8StaysCloseAndQdqExportComputesTheSame) {
  const ir::Graph g = small_resnet();
  const data::Dataset calib = random_images(64, 1);
  QuantizeOptions o;
  o.calib = &calib;
  const QuantizeResult r = quantize_model(g, o);
  EXPECT_FALSE(r.activations.empty());
  EXPECT_NEAR(r.bits_per_weight(), 8.0, 0.5);
  EXPECT_LT(r.model_bits, 0.3 * r.float_bits);

  const at::Tensor x = random_images(16, 2).inputs;
  const at::Tensor ref = run(r.folded, x), fake = run(r.fake, x);
  const double rel = ((fake - ref).norm() / ref.norm()).item<double>();
  EXPECT_LT(rel, 0.05) << rel;
  EXPECT_GT(rel, 0.0);  // something was quantized

  const ir::Graph exported = to_qdq_graph(r.qdq, r.layers, r.biases);
  int dq = 0;
  for (const auto& n : exported.nodes) dq += n.op_type == "DequantizeLinear";
  EXPECT_GE(dq, static_cast<int>(r.layers.size() + r.activations.size()));
  EXPECT_TRUE(at::equal(run(exported, x), fake));
}

// Biases of layers with a quantized weight and input sit on the int32 grid s_x * s_w that integer kernels
// add them on, within half a step of the float bias; the export stores them as int32 + DequantizeLinear.
TEST(QuantizeModel, BiasesOnTheInt32Grid) {
  const ir::Graph g = small_resnet();
  const data::Dataset calib = random_images(32, 5);
  QuantizeOptions o;
  o.calib = &calib;
  o.recipe.wbits = 8;
  o.recipe.abits = 8;
  const QuantizeResult r = quantize_model(g, o);
  ASSERT_FALSE(r.biases.empty());
  for (const auto& b : r.biases) {
    const at::Tensor folded = r.folded.initializers.at(b.bias).flatten();
    const at::Tensor fake = r.fake.initializers.at(b.bias).flatten();
    EXPECT_TRUE(at::equal(fake, b.values())) << b.node;
    EXPECT_TRUE(((fake - folded).abs() <= b.scale * 0.5 + 1e-9).all().item<bool>()) << b.node;
    EXPECT_EQ(b.codes.scalar_type(), at::kInt);
  }
  const ir::Graph exported = to_qdq_graph(r.qdq, r.layers, r.biases);
  int int32_biases = 0;
  for (const auto& [name, t] : exported.initializers) int32_biases += t.scalar_type() == at::kInt;
  EXPECT_EQ(int32_biases, static_cast<int>(r.biases.size()));
  const at::Tensor x = random_images(8, 6).inputs;
  EXPECT_TRUE(at::equal(run(exported, x), run(r.fake, x)));
  // One weight scale per tensor: the grid is s_x * s_w for every output channel alike.
  o.recipe.granularity = "tensor";
  const QuantizeResult t = quantize_model(g, o);
  EXPECT_EQ(t.biases.size(), r.biases.size());
  for (const auto& b : t.biases) EXPECT_TRUE(at::equal(b.scale, b.scale[0].expand_as(b.scale))) << b.node;
}

TEST(QuantizeModel, LowBitActivationsUseExactlyTheirCodes) {
  const ir::Graph g = small_resnet();
  const data::Dataset calib = random_images(32, 3);
  QuantizeOptions o;
  o.calib = &calib;
  o.recipe.wbits = 4;
  o.recipe.abits = 4;
  const QuantizeResult r = quantize_model(g, o);
  // Every activation read by a quantized layer takes at most 16 distinct values.
  exec::Executor ex(r.fake);
  const at::Tensor x = random_images(4, 4).inputs;
  for (const auto& a : r.activations) EXPECT_EQ(a.grid.bits, 4);
  std::vector<std::string> deq;
  for (const auto& n : r.fake.nodes)
    if (n.op_type == "DequantizeLinear") deq.push_back(n.outputs[0]);
  ASSERT_FALSE(deq.empty());
  at::NoGradGuard no_grad;
  const auto values = ex.run({{r.fake.inputs[0].name, x}}, deq);
  for (const auto& [name, v] : values) EXPECT_LE(std::get<0>(at::_unique(v)).numel(), 16) << name;
  EXPECT_TRUE(at::equal(run(to_qdq_graph(r.qdq, r.layers, r.biases), x), run(r.fake, x)));
}

TEST(QuantizeModel, PerChannelActivationScalesExportExactly) {
  const ir::Graph g = small_resnet();
  const data::Dataset calib = random_images(32, 7);
  for (int abits : {8, 4}) {
    QuantizeOptions o;
    o.calib = &calib;
    o.recipe.abits = abits;
    o.recipe.activation_granularity = "channel";
    const QuantizeResult r = quantize_model(g, o);
    ASSERT_FALSE(r.activations.empty());
    int multi = 0;  // the stem reads the 1-channel image; every later layer reads several channels
    for (const auto& a : r.activations) {
      EXPECT_EQ(a.scale.dim(), 1);
      multi += a.scale.numel() > 1;
      EXPECT_EQ(a.axis, 1);
      EXPECT_TRUE((a.scale > 0).all().item<bool>());
    }
    EXPECT_EQ(multi, static_cast<int>(r.activations.size()) - 1);
    const at::Tensor x = random_images(4, 8).inputs;
    EXPECT_TRUE(at::equal(run(to_qdq_graph(r.qdq, r.layers, r.biases), x), run(r.fake, x))) << abits;
    const at::Tensor ref = run(r.folded, x);
    EXPECT_LT(((run(r.fake, x) - ref).norm() / ref.norm()).item<double>(), abits == 8 ? 0.05 : 0.5);
  }
  QuantizeOptions bad;
  bad.recipe.activation_granularity = "channel";
  bad.recipe.activation_observer = "entropy";
  EXPECT_THROW(Recipe::from_json(bad.recipe.to_json(), ""), Error);
}

TEST(QuantizeModel, GroupScalesAreRefusedByQdqExportNamingTheLayer) {
  const ir::Graph g = small_resnet();
  QuantizeOptions o;
  o.recipe.abits = 0;
  o.recipe.wbits = 4;
  o.recipe.granularity = "group:8";
  const QuantizeResult r = quantize_model(g, o);
  try {
    to_qdq_graph(r.qdq, r.layers, r.biases);
    FAIL();
  } catch (const Error& e) {
    EXPECT_FALSE(e.node_name().empty());
    EXPECT_NE(e.hint_text().find(".pare"), std::string::npos);
  }
}

TEST(QuantizeModel, ActivationsNeedCalibrationData) {
  QuantizeOptions o;  // abits 8, no data
  EXPECT_THROW(quantize_model(small_resnet(), o), Error);
  o.recipe.method = "gptq";
  EXPECT_THROW(quantize_model(small_resnet(), o), Error);
}

TEST(QuantizeModel, ExecutorOverridesFakeQuantizeWithGradients) {
  ir::Graph g = small_resnet();
  QuantizeOptions o;
  o.recipe.abits = 0;
  o.recipe.wbits = 4;
  const QuantizeResult r = quantize_model(g, o);
  ir::Graph folded = r.folded.clone();
  exec::ExecOptions eo;
  eo.grad = true;
  exec::Executor ex(folded, eo);
  install_fake_quant(ex, r.layers);
  const at::Tensor x = random_images(8, 5).inputs;
  const at::Tensor y = ex.run({x}).at(0);
  EXPECT_TRUE(at::allclose(y.detach(), run(r.fake, x), 1e-4, 1e-5));
  // Straight-through gradients reach the float weights.
  for (auto& [name, t] : folded.initializers)
    if (t.is_floating_point()) t.requires_grad_(true);
  const at::Tensor y2 = ex.run({x}).at(0);
  y2.sum().backward();
  const at::Tensor& w = folded.initializers.at(r.layers[1].plan.layer.weight);
  ASSERT_TRUE(w.grad().defined());
  EXPECT_GT(w.grad().abs().sum().item<double>(), 0);
}

TEST(Observer, RangesOnKnownData) {
  at::manual_seed(6);
  at::Tensor x = at::randn({200000});
  x[5] = 40.0f;
  const Grid u8 = Grid::uniform(8, false, false);
  auto range_hi = [&](ObserverKind k) {
    Observer obs(k, 1 << 16, 1);
    for (int i = 0; i < 4; ++i) obs.observe(x.narrow(0, i * 50000, 50000));
    const RowScales s = obs.scales(u8);
    return (255 - s.zero_point.item<int>()) * s.scale.item<double>();
  };
  EXPECT_NEAR(range_hi(ObserverKind::MinMax), 40.0, 0.2);
  EXPECT_LT(range_hi(ObserverKind::Percentile), 6.0);  // the 99.99th percentile of N(0, 1) is 3.7
  EXPECT_LT(range_hi(ObserverKind::Mse), 10.0);
  EXPECT_LT(range_hi(ObserverKind::Entropy), 20.0);
  // Non-negative data gets zero point 0.
  Observer relu(ObserverKind::MinMax);
  relu.observe(x.clamp_min(0));
  EXPECT_EQ(relu.scales(u8).zero_point.item<int>(), 0);
  EXPECT_THROW(Observer(ObserverKind::MinMax).scales(u8), Error);
  EXPECT_THROW(parse_observer("median"), Error);
}

}  // namespace
}  // namespace pare::quant
