// Zoo builders: each model runs at 28x28, gives [N, classes] logits, exports to a checker-valid ONNX
// file, and gets a gradient on every trainable parameter.
#include "pare/ir/zoo/zoo.h"

#include <gtest/gtest.h>
#include <onnx/checker.h>

#include "pare/error.h"
#include "pare/exec/executor.h"
#include "pare/io/onnx_export.h"

namespace pare::ir::zoo {
namespace {

class ZooModel : public ::testing::TestWithParam<std::string> {};

TEST_P(ZooModel, RunsExportsAndTrains) {
  ZooOptions o;
  o.classes = 7;
  Graph g = build(GetParam(), o);
  at::Tensor x = at::rand({3, 1, 28, 28});
  {
    exec::Executor ex(g);
    at::Tensor y = ex.run({x})[0];
    EXPECT_EQ(y.sizes(), at::IntArrayRef({3, 7}));
    EXPECT_TRUE(at::isfinite(y).all().item<bool>());
  }
  onnx::checker::check_model(io::graph_to_model(g));
  auto params = exec::trainable_parameters(g);
  for (auto& [name, t] : params) t.requires_grad_(true);
  exec::Executor train(g, {true});
  at::Tensor loss = at::cross_entropy_loss(train.run({x})[0], at::tensor({0, 3, 6}, at::kLong));
  loss.backward();
  int64_t n_params = 0;
  for (auto& [name, t] : params) {
    ASSERT_TRUE(t.grad().defined()) << name;
    EXPECT_GT(t.grad().abs().sum().item<double>(), 0.0) << name;
    n_params += t.numel();
  }
  EXPECT_GT(n_params, 50000);
}

INSTANTIATE_TEST_SUITE_P(Zoo, ZooModel, ::testing::Values("resnet20", "mobilenetv2", "vit"));

TEST(Zoo, SameSeedSameWeightsAndBadNamesFail) {
  ZooOptions o;
  o.seed = 5;
  Graph a = build("resnet20", o), b = build("resnet20", o);
  EXPECT_TRUE(at::equal(a.initializers.at("fc.weight"), b.initializers.at("fc.weight")));
  EXPECT_EQ(build("resnet32", o).nodes.size(), a.nodes.size() + 2 * 3 * 7);  // 2 more 7-node blocks per stage
  EXPECT_THROW(build("resnet21", o), Error);
  EXPECT_THROW(build("alexnet", o), Error);
}

}  // namespace
}  // namespace pare::ir::zoo
