// Ops keep autograd working: analytic gradients of the newer op families (resize, sampling, recurrent,
// losses, scatter/gather, spectral, ...) match central finite differences in double precision.
#include <gtest/gtest.h>

#include "pare/ops/op_table.h"

namespace pare::ops {
namespace {

struct Case {
  std::string op;
  ir::Attributes attrs;
  Tensors inputs;             // double tensors are checked when listed in `check`
  std::vector<size_t> check;  // indices of inputs whose gradient is compared
  int64_t opset = 17;
};

// sum(out_k * r_k) over the op's float outputs, with fixed random weights r_k.
at::Tensor objective(const Case& c, const Tensors& inputs, const std::vector<at::Tensor>& weights) {
  ir::Node node;
  node.name = "n";
  node.op_type = c.op;
  node.attrs = c.attrs;
  for (size_t i = 0; i < inputs.size(); ++i) node.inputs.push_back(inputs[i].defined() ? "in" + std::to_string(i) : "");
  const OpEntry* e = OpTable::builtin().find("", c.op, c.opset);
  if (!e) throw std::runtime_error("no implementation of " + c.op);
  OpContext ctx(node, c.opset, false);
  Tensors out = e->fn(ctx, inputs);
  at::Tensor total = at::zeros({}, at::kDouble);
  for (size_t k = 0; k < out.size() && k < weights.size(); ++k)
    if (out[k].defined() && at::isFloatingType(out[k].scalar_type())) total = total + (out[k] * weights[k]).sum();
  return total;
}

void expect_gradients_match(const Case& c) {
  SCOPED_TRACE(c.op);
  at::manual_seed(7);
  Tensors probe = c.inputs;
  std::vector<at::Tensor> weights;
  {
    ir::Node node;
    node.op_type = c.op;
    node.attrs = c.attrs;
    for (size_t i = 0; i < probe.size(); ++i) node.inputs.push_back(probe[i].defined() ? "in" : "");
    OpContext ctx(node, c.opset, false);
    for (const auto& o : OpTable::builtin().find("", c.op, c.opset)->fn(ctx, probe))
      weights.push_back(o.defined() ? at::randn(o.sizes(), at::kDouble) : at::Tensor());
  }
  Tensors inputs = c.inputs;
  for (size_t i : c.check) inputs[i] = inputs[i].clone().requires_grad_(true);
  objective(c, inputs, weights).backward();
  for (size_t i : c.check) {
    ASSERT_TRUE(inputs[i].grad().defined()) << "input " << i << " received no gradient";
    at::Tensor g = inputs[i].grad().reshape(-1);
    const int64_t n = inputs[i].numel();
    for (int64_t k = 0; k < n; k += std::max<int64_t>(1, n / 6)) {
      const double eps = 1e-6;
      Tensors plus = c.inputs, minus = c.inputs;
      plus[i] = c.inputs[i].clone();
      minus[i] = c.inputs[i].clone();
      plus[i].view(-1)[k] += eps;
      minus[i].view(-1)[k] -= eps;
      const double numeric =
          (objective(c, plus, weights).item<double>() - objective(c, minus, weights).item<double>()) / (2 * eps);
      EXPECT_NEAR(g[k].item<double>(), numeric, 1e-5 + 1e-4 * std::abs(numeric)) << "input " << i << " element " << k;
    }
  }
}

at::Tensor rnd(at::IntArrayRef shape) { return at::randn(shape, at::kDouble); }
at::Tensor ints(std::vector<int64_t> v) { return at::tensor(v, at::kLong); }

TEST(OpsAutograd, ResizeLinearAndCubic) {
  at::manual_seed(1);
  at::Tensor x = rnd({1, 2, 3, 4});
  at::Tensor scales = at::tensor(std::vector<double>{1, 1, 2, 1.5}, at::kFloat);
  expect_gradients_match({"Resize", {{"mode", "linear"}}, {x, at::Tensor(), scales}, {0}});
  expect_gradients_match(
      {"Resize", {{"mode", "cubic"}, {"exclude_outside", int64_t{1}}}, {x, at::Tensor(), scales}, {0}});
}

TEST(OpsAutograd, GridSampleBothInputs) {
  at::manual_seed(2);
  // Grid points away from pixel centres, where bilinear sampling is differentiable in the grid too.
  at::Tensor grid = at::rand({1, 3, 2, 2}, at::kDouble) * 1.6 - 0.8 + 0.013;
  expect_gradients_match({"GridSample", {{"align_corners", int64_t{1}}}, {rnd({1, 2, 4, 5}), grid}, {0, 1}});
}

TEST(OpsAutograd, RecurrentLayers) {
  at::manual_seed(3);
  const int64_t h = 3;
  at::Tensor x = rnd({4, 2, 5}), lens = ints({4, 2});
  expect_gradients_match(
      {"LSTM",
       {{"hidden_size", h}, {"direction", "bidirectional"}},
       {x, rnd({2, 4 * h, 5}), rnd({2, 4 * h, h}), rnd({2, 8 * h}), lens, at::Tensor(), at::Tensor(), rnd({2, 3 * h})},
       {0, 1, 2, 3, 7}});
  expect_gradients_match({"GRU",
                          {{"hidden_size", h}, {"linear_before_reset", int64_t{1}}},
                          {x, rnd({1, 3 * h, 5}), rnd({1, 3 * h, h}), rnd({1, 6 * h})},
                          {0, 1, 2, 3}});
  expect_gradients_match({"RNN",
                          {{"hidden_size", h}, {"direction", "reverse"}},
                          {x, rnd({1, h, 5}), rnd({1, h, h}), rnd({1, 2 * h}), lens},
                          {0, 1, 2}});
}

TEST(OpsAutograd, LossesAndRoiAlign) {
  at::manual_seed(4);
  expect_gradients_match({"SoftmaxCrossEntropyLoss",
                          {{"ignore_index", int64_t{1}}},
                          {rnd({3, 4, 2}), ints({0, 1, 3, 2, 1, 0}).reshape({3, 2}), at::rand({4}, at::kDouble)},
                          {0}});
  at::Tensor rois = at::tensor(std::vector<double>{0.3, 0.7, 4.1, 3.3, 1.2, 0.1, 2.6, 4.4}).reshape({2, 4});
  expect_gradients_match({"RoiAlign",
                          {{"output_height", int64_t{2}}, {"output_width", int64_t{3}}},
                          {rnd({2, 2, 5, 6}), rois, ints({1, 0})},
                          {0},
                          16});
}

TEST(OpsAutograd, ScatterGatherAndRearrange) {
  at::manual_seed(5);
  expect_gradients_match(
      {"ScatterND", {{"reduction", "add"}}, {rnd({4, 3}), ints({1, 3, 1}).reshape({3, 1}), rnd({3, 3})}, {0, 2}});
  expect_gradients_match({"ScatterElements",
                          {{"axis", int64_t{1}}},
                          {rnd({2, 4}), ints({3, 0, 1, 2}).reshape({2, 2}), rnd({2, 2})},
                          {0, 2}});
  expect_gradients_match(
      {"GatherND", {{"batch_dims", int64_t{1}}}, {rnd({2, 3, 4}), ints({2, 0}).reshape({2, 1})}, {0}});
  expect_gradients_match({"DepthToSpace", {{"blocksize", int64_t{2}}, {"mode", "CRD"}}, {rnd({1, 8, 2, 3})}, {0}});
  expect_gradients_match(
      {"CumSum", {{"exclusive", int64_t{1}}, {"reverse", int64_t{1}}}, {rnd({3, 4}), ints({1})}, {0}});
  expect_gradients_match({"Einsum", {{"equation", "bij, bjk -> bik"}}, {rnd({2, 3, 4}), rnd({2, 4, 2})}, {0, 1}});
}

TEST(OpsAutograd, SpectralAndNormalization) {
  at::manual_seed(6);
  expect_gradients_match({"DFT", {{"onesided", int64_t{1}}}, {rnd({2, 8, 1})}, {0}});
  expect_gradients_match({"MeanVarianceNormalization", {}, {rnd({2, 3, 2, 2})}, {0}});
  expect_gradients_match({"MaxUnpool",
                          {{"kernel_shape", std::vector<int64_t>{2, 2}}, {"strides", std::vector<int64_t>{2, 2}}},
                          {rnd({1, 1, 2, 2}), ints({0, 3, 9, 14}).reshape({1, 1, 2, 2})},
                          {0}});
}

}  // namespace
}  // namespace pare::ops
