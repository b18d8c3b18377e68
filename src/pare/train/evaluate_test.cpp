// evaluate(): accuracy and loss against a hand-built "model" whose logits are known.
#include "pare/train/evaluate.h"

#include <gtest/gtest.h>

#include "pare/error.h"
#include "pare/ir/graph_builder.h"

namespace pare::train {
namespace {

// A model that returns its input as logits: the dataset decides the predictions exactly.
ir::Graph identity_model(int64_t classes) {
  ir::GraphBuilder b("identity");
  auto x = b.input("input", ir::DType::Float, {-1, classes});
  b.output(b.add1("Identity", {x}), "logits");
  return b.finish();
}

TEST(Evaluate, CountsTop1Top5AndPerClass) {
  ir::Graph g = identity_model(6);
  exec::Executor ex(g);
  data::Dataset d;
  d.name = "handmade";
  // Sample i has its largest logit at class i % 6; labels are right for the first 8 of 12.
  d.inputs = at::zeros({12, 6});
  for (int64_t i = 0; i < 12; ++i) {
    d.inputs[i][i % 6] = 5.0;
    d.inputs[i][(i + 1) % 6] = 4.0;  // second choice
  }
  d.labels = at::arange(12, at::kLong).remainder(6);
  for (int64_t i = 8; i < 12; ++i) d.labels[i] = (i + 1) % 6;  // wrong top-1, right top-2
  EvalOptions o;
  o.batch_size = 5;  // uneven batches on purpose
  EvalResult r = evaluate(ex, d, o);
  EXPECT_EQ(r.samples, 12);
  EXPECT_NEAR(r.top1, 100.0 * 8 / 12, 1e-9);
  EXPECT_NEAR(r.top5, 100.0, 1e-9);
  at::Tensor expected_loss = at::cross_entropy_loss(d.inputs, d.labels);
  EXPECT_NEAR(r.loss, expected_loss.item<double>(), 1e-5);
  ASSERT_EQ(r.per_class_top1.size(), 6u);
  EXPECT_NEAR(r.per_class_top1[0], 200.0 / 3, 1e-9);  // samples 0, 6 right; 11 (label 0) wrong
  EXPECT_NEAR(r.per_class_top1[3], 50.0, 1e-9);       // 3 right; 8 (label 3) wrong
}

TEST(Evaluate, RejectsLabelsOutsideTheModelAndShapeMismatch) {
  ir::Graph g = identity_model(3);
  exec::Executor ex(g);
  data::Dataset d;
  d.name = "bad";
  d.inputs = at::zeros({2, 3});
  d.labels = at::tensor({0, 7}, at::kLong);
  EXPECT_THROW(evaluate(ex, d), Error);
  d.inputs = at::zeros({2, 4});
  d.labels = at::tensor({0, 1}, at::kLong);
  EXPECT_THROW(evaluate(ex, d), Error);
}

}  // namespace
}  // namespace pare::train
