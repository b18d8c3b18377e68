// fold_batchnorm: the folded graph computes what the original did, has no BatchNormalization left
// where folding applies, and leaves shared weights and non-foldable patterns alone.
#include "pare/ir/passes/fold_batchnorm.h"

#include <gtest/gtest.h>

#include "pare/exec/executor.h"
#include "pare/ir/graph_builder.h"

namespace pare::ir {
namespace {

std::string add_bn(GraphBuilder& b, const std::string& x, int64_t c, const std::string& name) {
  auto s = b.initializer(name + ".s", at::rand({c}) + 0.5);
  auto bb = b.initializer(name + ".b", at::randn({c}));
  auto m = b.initializer(name + ".m", at::randn({c}));
  auto v = b.initializer(name + ".v", at::rand({c}) + 0.1);
  return b.add1("BatchNormalization", {x, s, bb, m, v}, {{"epsilon", 1e-3}}, name);
}

double max_diff_after_fold(Graph g, const at::Tensor& x, FoldReport* report) {
  at::Tensor before = exec::Executor(g).run({x})[0];
  *report = fold_batchnorm(g);
  at::Tensor after = exec::Executor(g).run({x})[0];
  return (before - after).abs().max().item<double>() / before.abs().max().item<double>();
}

TEST(FoldBatchNorm, ConvGroupedConvTransposeAndGemm) {
  at::manual_seed(3);
  GraphBuilder b("bn");
  auto x = b.input("x", DType::Float, {-1, 4, 6, 6});
  auto h =
      b.add1("Conv", {x, b.initializer("w1", at::randn({8, 4, 3, 3}))}, {{"pads", std::vector<int64_t>{1, 1, 1, 1}}});
  h = add_bn(b, h, 8, "bn1");
  h = b.add1("Conv", {h, b.initializer("w2", at::randn({8, 2, 3, 3})), b.initializer("b2", at::randn({8}))},
             {{"group", 4}});
  h = add_bn(b, h, 8, "bn2");
  h = b.add1("ConvTranspose", {h, b.initializer("w3", at::randn({8, 3, 2, 2}))},
             {{"strides", std::vector<int64_t>{2, 2}}});
  h = add_bn(b, h, 3, "bn3");
  h = b.add1("Flatten", {h});
  h = b.add1("Gemm", {h, b.initializer("w4", at::randn({5, 192})), b.initializer("b4", at::randn({5}))},
             {{"transB", 1}});
  h = add_bn(b, h, 5, "bn4");
  b.output(h, "y");
  Graph g = b.finish();
  FoldReport r;
  EXPECT_LT(max_diff_after_fold(g, at::randn({2, 4, 6, 6}), &r), 1e-5);
  EXPECT_EQ(r.folded, 4);
  EXPECT_EQ(r.declined, 0);
}

TEST(FoldBatchNorm, FoldedGraphHasNoBatchNormAndNoStaleWeights) {
  at::manual_seed(4);
  GraphBuilder b("bn");
  auto x = b.input("x", DType::Float, {-1, 3, 5, 5});
  auto h = b.add1("Conv", {x, b.initializer("w", at::randn({6, 3, 1, 1}))});
  b.output(add_bn(b, h, 6, "bn"), "y");
  Graph g = b.finish();
  fold_batchnorm(g);
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.nodes[0].outputs[0], "y");
  EXPECT_EQ(g.initializers.size(), 2u);  // folded weight and bias only
}

TEST(FoldBatchNorm, DeclinesWhenNotExactOrShared) {
  at::manual_seed(5);
  GraphBuilder b("declines");
  auto x = b.input("x", DType::Float, {-1, 3, 5, 5});
  auto w = b.initializer("w", at::randn({3, 3, 1, 1}));
  auto c1 = b.add1("Conv", {x, w}, {}, "conv1");
  auto bn1 = add_bn(b, c1, 3, "bn1");  // conv1's output is also read by Add below
  auto sum = b.add1("Add", {bn1, c1});
  auto bn2 = add_bn(b, sum, 3, "bn2");              // producer is Add: nothing to fold into
  auto c3 = b.add1("Conv", {bn2, w}, {}, "conv3");  // shares w with conv1
  b.output(add_bn(b, c3, 3, "bn3"), "y");
  Graph g = b.finish();
  const at::Tensor w_before = g.initializers.at("w").clone();
  FoldReport r;
  EXPECT_LT(max_diff_after_fold(g, at::randn({2, 3, 5, 5}), &r), 1e-5);
  EXPECT_EQ(r.folded, 1);  // only bn3
  EXPECT_EQ(r.declined, 2);
  EXPECT_TRUE(at::equal(g.initializers.at("w"), w_before));  // conv1 still reads the original
}

}  // namespace
}  // namespace pare::ir
