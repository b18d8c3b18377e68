// Random generator ops: shapes, types and ranges as ONNX specifies, and a 'seed' makes runs repeat.
#include <gtest/gtest.h>

#include "pare/ops/op_table.h"

namespace pare::ops {
namespace {

at::Tensor run_op(const std::string& op, const ir::Attributes& attrs, const Tensors& in = {}) {
  ir::Node node;
  node.name = "r";
  node.op_type = op;
  node.attrs = attrs;
  for (size_t i = 0; i < in.size(); ++i) node.inputs.push_back("in");
  OpContext ctx(node, 17, false);
  return OpTable::builtin().find("", op, 17)->fn(ctx, in).at(0);
}

TEST(RandomOps, UniformHonoursShapeTypeAndRange) {
  at::Tensor y = run_op(
      "RandomUniform", {{"shape", std::vector<int64_t>{40, 50}}, {"low", -2.0}, {"high", 3.0}, {"dtype", int64_t{11}}});
  EXPECT_EQ(y.sizes(), at::IntArrayRef({40, 50}));
  EXPECT_EQ(y.scalar_type(), at::kDouble);
  EXPECT_GE(y.min().item<double>(), -2.0);
  EXPECT_LT(y.max().item<double>(), 3.0);
  EXPECT_NEAR(y.mean().item<double>(), 0.5, 0.15);  // 2000 draws: mean within ~7 standard errors
}

TEST(RandomOps, NormalLikeTakesShapeAndTypeFromInput) {
  at::Tensor like = at::zeros({30, 70}, at::kFloat);
  at::Tensor y = run_op("RandomNormalLike", {{"mean", 5.0}, {"scale", 0.5}}, {like});
  EXPECT_EQ(y.sizes(), like.sizes());
  EXPECT_EQ(y.scalar_type(), at::kFloat);
  EXPECT_NEAR(y.mean().item<double>(), 5.0, 0.1);
  EXPECT_NEAR(y.std().item<double>(), 0.5, 0.05);
}

TEST(RandomOps, SeedRepeatsAndDifferentSeedsDiffer) {
  ir::Attributes a{{"shape", std::vector<int64_t>{16}}, {"seed", 3.0}};
  ir::Attributes b{{"shape", std::vector<int64_t>{16}}, {"seed", 4.0}};
  EXPECT_TRUE(at::equal(run_op("RandomNormal", a), run_op("RandomNormal", a)));
  EXPECT_FALSE(at::equal(run_op("RandomNormal", a), run_op("RandomNormal", b)));
  at::Tensor p = at::full({1000}, 0.25, at::kDouble);
  at::Tensor draws = run_op("Bernoulli", {{"seed", 1.0}}, {p});
  EXPECT_EQ(draws.scalar_type(), at::kDouble);
  EXPECT_TRUE(at::logical_or(draws == 0, draws == 1).all().item<bool>());
  EXPECT_NEAR(draws.mean().item<double>(), 0.25, 0.06);
}

}  // namespace
}  // namespace pare::ops
