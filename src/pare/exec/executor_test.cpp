// exec::Executor: inference, training mode (autograd, BatchNorm statistics, Dropout), hooks,
// weight overrides, sub-graph runs, batching and input validation.
#include <gtest/gtest.h>

#include "pare/error.h"
#include "pare/exec/executor.h"
#include "pare/ir/graph_builder.h"

namespace pare::exec {
namespace {

using ir::DType;

// x[N,2,4,4] -> Conv(3x3, pad 1) -> BatchNorm -> Relu -> Dropout -> GlobalAveragePool -> Flatten -> Gemm -> y[N,3]
ir::Graph conv_net(uint64_t seed = 0) {
  at::manual_seed(seed);
  ir::GraphBuilder b("convnet");
  auto x = b.input("x", DType::Float, {-1, 2, 4, 4});
  auto w = b.initializer("conv.w", at::randn({5, 2, 3, 3}));
  auto cb = b.initializer("conv.b", at::randn({5}));
  auto h = b.add1("Conv", {x, w, cb}, {{"pads", std::vector<int64_t>{1, 1, 1, 1}}}, "conv");
  auto s = b.initializer("bn.scale", at::rand({5}) + 0.5);
  auto bb = b.initializer("bn.bias", at::randn({5}));
  auto m = b.initializer("bn.mean", at::randn({5}) * 0.1);
  auto v = b.initializer("bn.var", at::rand({5}) + 0.5);
  h = b.add1("BatchNormalization", {h, s, bb, m, v}, {{"momentum", 0.9}}, "bn");
  h = b.add1("Relu", {h}, {}, "relu");
  h = b.add1("Dropout", {h}, {}, "drop");
  h = b.add1("GlobalAveragePool", {h}, {}, "gap");
  h = b.add1("Flatten", {h}, {}, "flat");
  auto fw = b.initializer("fc.w", at::randn({3, 5}));
  auto fb = b.initializer("fc.b", at::randn({3}));
  h = b.add1("Gemm", {h, fw, fb}, {{"transB", 1}}, "fc");
  b.output(h, "y");
  return b.finish();
}

// The same network written directly with ATen, as an independent reference.
at::Tensor reference(const ir::Graph& g, const at::Tensor& x) {
  const auto& I = g.initializers;
  at::Tensor h = at::conv2d(x, I.at("conv.w"), I.at("conv.b"), 1, 1);
  h = at::batch_norm(h, I.at("bn.scale"), I.at("bn.bias"), I.at("bn.mean"), I.at("bn.var"), false, 0.1, 1e-5, false);
  h = at::relu(h).mean({2, 3});
  return at::addmm(I.at("fc.b"), h, I.at("fc.w").t());
}

TEST(Executor, InferenceMatchesReference) {
  ir::Graph g = conv_net();
  Executor ex(g);
  at::Tensor x = at::randn({4, 2, 4, 4});
  at::Tensor y = ex.run({x})[0];
  EXPECT_EQ(y.sizes(), at::IntArrayRef({4, 3}));
  EXPECT_TRUE(at::allclose(y, reference(g, x), 1e-5, 1e-5));
}

TEST(Executor, ChannelsLastComputesTheSameValues) {
  ir::Graph g = conv_net();
  at::Tensor x = at::randn({3, 2, 4, 4});
  ExecOptions cl;
  cl.channels_last = true;
  Executor nchw(g), nhwc(g, cl);
  TensorMap a = nchw.capture({{"x", x}}, {"relu:out"}), b = nhwc.capture({{"x", x}}, {"relu:out"});
  EXPECT_TRUE(b.at("relu:out").is_contiguous(at::MemoryFormat::ChannelsLast));
  EXPECT_EQ(b.at("relu:out").sizes(), a.at("relu:out").sizes());  // logical shape unchanged
  EXPECT_TRUE(at::allclose(a.at("y"), b.at("y"), 1e-5, 1e-5));
}

TEST(Executor, BatchedEqualsOneByOne) {
  ir::Graph g = conv_net();
  Executor ex(g);
  at::Tensor x = at::randn({5, 2, 4, 4});
  at::Tensor batched = ex.run({x})[0];
  for (int64_t i = 0; i < 5; ++i)
    EXPECT_TRUE(at::allclose(ex.run({x.narrow(0, i, 1)})[0], batched.narrow(0, i, 1), 1e-5, 1e-6));
}

TEST(Executor, TrainingUpdatesBatchNormStatsAndGradients) {
  ir::Graph g = conv_net();
  for (auto& [name, t] : trainable_parameters(g)) t.requires_grad_(true);
  at::Tensor mean_before = g.initializers.at("bn.mean").clone();
  Executor ex(g, {/*training=*/true});
  at::Tensor x = at::randn({8, 2, 4, 4});
  at::Tensor y = ex.run({x})[0];
  y.pow(2).sum().backward();
  EXPECT_FALSE(at::allclose(g.initializers.at("bn.mean"), mean_before));  // running mean moved
  ASSERT_TRUE(g.initializers.at("conv.w").grad().defined());
  EXPECT_GT(g.initializers.at("conv.w").grad().abs().sum().item<double>(), 0.0);
  EXPECT_FALSE(g.initializers.at("bn.mean").requires_grad());  // statistics are not parameters
  auto params = trainable_parameters(g);
  EXPECT_EQ(params.size(), 6u);  // conv w/b, bn scale/bias, fc w/b
}

TEST(Executor, BiasGradientEqualsBatchSize) {
  ir::Graph g = conv_net();
  at::Tensor& w = g.initializers.at("fc.b");
  w.requires_grad_(true);
  Executor ex(g, {false, /*grad=*/true});
  at::Tensor x = at::randn({2, 2, 4, 4}, at::kFloat);
  ex.run({x})[0].sum().backward();
  // d(sum y)/d(fc.b[j]) = batch size
  EXPECT_TRUE(at::allclose(w.grad(), at::full({3}, 2.0), 1e-5, 1e-5));
}

TEST(Executor, DropoutIsActiveOnlyInTraining) {
  ir::GraphBuilder b("drop");
  auto x = b.input("x", DType::Float, {1000});
  b.output(b.add1("Dropout", {x}, {}, "d"), "y");
  ir::Graph g = b.finish();
  at::Tensor in = at::ones({1000});
  Executor infer(g);
  EXPECT_TRUE(at::equal(infer.run({in})[0], in));
  Executor train(g, {true});
  at::Tensor out = train.run({in})[0];
  const double zeros = (out == 0).sum().item<double>();
  EXPECT_GT(zeros, 350);  // ratio 0.5: about 500 dropped
  EXPECT_LT(zeros, 650);
  EXPECT_NEAR(out.sum().item<double>() / 1000.0, 1.0, 0.15);  // kept ones are scaled by 2
}

TEST(Executor, HooksSeeIntermediateValues) {
  ir::Graph g = conv_net();
  Executor ex(g);
  std::map<std::string, at::IntArrayRef::value_type> seen_dims;
  std::vector<std::string> all;
  ex.add_hook("relu:out", [&](const std::string& n, const at::Tensor& t) { seen_dims[n] = t.size(1); });
  ex.add_hook("*", [&](const std::string& n, const at::Tensor&) { all.push_back(n); });
  at::Tensor x = at::randn({2, 2, 4, 4});
  ex.run({x});
  EXPECT_EQ(seen_dims.at("relu:out"), 5);
  EXPECT_EQ(all.front(), "x");
  EXPECT_EQ(all.back(), "y");
  EXPECT_THROW(ex.add_hook("no_such_value", [](const std::string&, const at::Tensor&) {}), Error);
  TensorMap captured = ex.capture({{"x", x}}, {"gap:out"});
  EXPECT_EQ(captured.at("gap:out").sizes(), at::IntArrayRef({2, 5, 1, 1}));
}

TEST(Executor, WeightOverrideReplacesWeightAndKeepsAutograd) {
  ir::Graph g = conv_net();
  Executor ex(g, {false, true});
  at::Tensor x = at::randn({2, 2, 4, 4});
  at::Tensor base = ex.run({x})[0];
  at::Tensor scale = at::ones({}, at::kFloat).requires_grad_(true);
  ex.set_weight_override("fc", [&](const at::Tensor& w) { return w * scale * 0.0; });
  at::Tensor zeroed = ex.run({x})[0];
  // With fc.w zeroed, the output is the bias broadcast over the batch.
  EXPECT_TRUE(at::allclose(zeroed, g.initializers.at("fc.b").expand({2, 3})));
  zeroed.sum().backward();
  EXPECT_TRUE(scale.grad().defined());
  ex.set_weight_override("fc", [](const at::Tensor& w) { return w.narrow(0, 0, 1); });  // wrong shape
  EXPECT_THROW(ex.run({x}), Error);
  ex.clear_weight_overrides();
  EXPECT_TRUE(at::allclose(ex.run({x})[0], base));
  EXPECT_THROW(ex.set_weight_override("no_such_node", [](const at::Tensor& w) { return w; }), Error);
}

TEST(Executor, RunsSubGraphFromIntermediateFeeds) {
  ir::Graph g = conv_net();
  Executor ex(g);
  at::Tensor x = at::randn({3, 2, 4, 4});
  TensorMap full = ex.capture({{"x", x}}, {"relu:out"});
  // Feed the ReLU output directly: only the tail runs, and the result is the same.
  TensorMap tail = ex.run({{"relu:out", full.at("relu:out")}});
  EXPECT_TRUE(at::allclose(tail.at("y"), full.at("y")));
  // Fetch an intermediate value only: the head runs, nothing after it is needed.
  TensorMap head = ex.run({{"x", x}}, {"conv:out"});
  EXPECT_EQ(head.size(), 1u);
  // Feeding nothing useful fails with the missing value named.
  EXPECT_THROW(ex.run({{"gap:out", at::randn({3, 5, 1, 1})}}, {"relu:out"}), Error);
  // The same via an extracted sub-graph with its own executor.
  ir::Graph sub = g.extract({"relu:out"}, {"y"});
  Executor sub_ex(sub);
  EXPECT_TRUE(at::allclose(sub_ex.run({full.at("relu:out")})[0], full.at("y")));
}

TEST(Executor, RejectsWrongInputs) {
  ir::Graph g = conv_net();
  Executor ex(g);
  EXPECT_THROW(ex.run({at::randn({2, 3, 4, 4})}), Error);                  // wrong channel count
  EXPECT_THROW(ex.run({at::randn({2, 2, 4, 4}).to(at::kDouble)}), Error);  // wrong dtype
  EXPECT_THROW(ex.run(std::vector<at::Tensor>{}), Error);                  // missing input
  try {
    ex.run({at::randn({2, 2, 5})});
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.tensor_name(), "x");
    EXPECT_NE(std::string(e.what()).find("[N, 2, 4, 4]"), std::string::npos);
  }
}

TEST(Executor, ReportsAllUnsupportedOpsAtOnce) {
  ir::GraphBuilder b("unknown");
  auto x = b.input("x", DType::Float, {2});
  auto h = b.add1("FancyOp", {x}, {}, "f1");
  h = b.add1("FancyOp", {h}, {}, "f2");
  h = b.add1("OtherOp", {h}, {}, "o1");
  b.output(h);
  ir::Graph g = b.finish();
  EXPECT_EQ(unsupported_ops(g).size(), 2u);
  try {
    Executor ex(g);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("FancyOp"), std::string::npos);
    EXPECT_NE(msg.find("OtherOp"), std::string::npos);
    EXPECT_NE(msg.find("f1, f2"), std::string::npos);
  }
}

}  // namespace
}  // namespace pare::exec
