// The train module: schedule, augmentation, loader determinism, optimizer arithmetic, checkpoints,
// resume, and a real (small) training run on Fashion-MNIST that must learn.
#include "pare/train/trainer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "pare/error.h"
#include "pare/ir/graph_builder.h"
#include "pare/ir/zoo/zoo.h"
#include "pare/optim/lr_schedule.h"
#include "pare/optim/optimizer.h"
#include "pare/train/augment.h"
#include "pare/train/batch_loader.h"
#include "pare/train/checkpoint.h"
#include "pare/train/evaluate.h"

namespace pare::train {
namespace {
namespace fs = std::filesystem;

std::string temp_path(const std::string& name) {
  return (fs::temp_directory_path() / ("pare_trainer_test_" + std::to_string(::getpid()) + "_" + name)).string();
}

TEST(LrSchedule, WarmupThenCosine) {
  optim::LrSchedule s;
  s.base_lr = 0.1;
  s.min_lr = 0.001;
  s.warmup_steps = 10;
  s.total_steps = 110;
  EXPECT_NEAR(s.at(0), 0.01, 1e-12);  // never zero: the first step moves
  EXPECT_NEAR(s.at(9), 0.1, 1e-12);
  EXPECT_NEAR(s.at(10), 0.1, 1e-12);
  EXPECT_NEAR(s.at(60), 0.001 + 0.5 * 0.099, 1e-12);  // half way: the mean of the ends
  EXPECT_NEAR(s.at(110), 0.001, 1e-12);
  for (int64_t i = 11; i <= 110; ++i) EXPECT_LE(s.at(i), s.at(i - 1));
  s.kind = "constant";
  EXPECT_NEAR(s.at(100), 0.1, 1e-12);
}

TEST(Augment, ParsesAndRejects) {
  AugmentOptions a = AugmentOptions::parse("crop:2,hflip");
  EXPECT_EQ(a.crop_padding, 2);
  EXPECT_TRUE(a.hflip);
  EXPECT_EQ(a.to_string(), "crop:2,hflip");
  EXPECT_FALSE(AugmentOptions::parse("none").any());
  EXPECT_THROW(AugmentOptions::parse("crop:x"), Error);
  EXPECT_THROW(AugmentOptions::parse("rotate"), Error);
}

TEST(Augment, ShiftsAndFlipsWithinThePaddingDeterministically) {
  at::manual_seed(3);
  at::Tensor x = at::rand({64, 1, 8, 8}) + 1;  // strictly positive, so padding zeros are visible
  AugmentOptions o;
  o.crop_padding = 2;
  o.hflip = true;
  at::Tensor y1 = augment_batch(x, o, 42), y2 = augment_batch(x, o, 42), y3 = augment_batch(x, o, 43);
  EXPECT_TRUE(y1.equal(y2));
  EXPECT_FALSE(y1.equal(y3));
  // Every output is the input shifted by at most 2 pixels (and possibly mirrored): find the shift.
  int flips = 0, moved = 0;
  for (int64_t i = 0; i < 64; ++i) {
    bool found = false;
    for (int flip = 0; flip < 2 && !found; ++flip) {
      at::Tensor src = flip ? x[i].flip({2}) : x[i];
      at::Tensor padded = at::constant_pad_nd(src, {2, 2, 2, 2}, 0.0);
      for (int dy = 0; dy <= 4 && !found; ++dy)
        for (int dx = 0; dx <= 4 && !found; ++dx)
          if (padded.narrow(1, dy, 8).narrow(2, dx, 8).equal(y1[i])) {
            found = true;
            flips += flip;
            moved += (dy != 2 || dx != 2);
          }
    }
    EXPECT_TRUE(found) << "sample " << i << " is not a padded crop of its input";
  }
  EXPECT_GT(flips, 16);  // about half
  EXPECT_LT(flips, 48);
  EXPECT_GT(moved, 40);  // 24 of 25 offsets move the image
}

TEST(BatchLoader, EachEpochIsAPermutationFixedBySeedAndEpoch) {
  data::Dataset d;
  d.name = "counting";
  d.inputs = at::arange(100, at::kFloat).reshape({100, 1});
  d.labels = at::arange(100, at::kLong);
  auto epoch = [&](uint64_t seed, int64_t e) {
    BatchLoader loader(d, 16, {}, seed, e);
    EXPECT_EQ(loader.batches(), 6);  // the last partial batch is dropped
    std::vector<int64_t> seen;
    Batch b;
    while (loader.next(b)) {
      EXPECT_TRUE(b.inputs.squeeze(1).to(at::kLong).equal(b.labels));  // inputs and labels stay paired
      for (int64_t i = 0; i < b.labels.size(0); ++i) seen.push_back(b.labels[i].item<int64_t>());
    }
    return seen;
  };
  auto a = epoch(1, 0), b = epoch(1, 0), c = epoch(1, 1), e = epoch(2, 0);
  EXPECT_EQ(a.size(), 96u);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(a, e);
  std::sort(a.begin(), a.end());
  EXPECT_TRUE(std::adjacent_find(a.begin(), a.end()) == a.end()) << "a sample repeats within an epoch";
}

TEST(BatchLoader, StopsEarlyWithoutHanging) {
  data::Dataset d;
  d.inputs = at::zeros({1000, 4});
  d.labels = at::zeros({1000}, at::kLong);
  BatchLoader loader(d, 10, {}, 0, 0, 2);
  Batch b;
  ASSERT_TRUE(loader.next(b));  // the destructor must stop a worker blocked on a full queue
}

ir::Graph tiny_mlp() {
  ir::GraphBuilder b("mlp");
  auto x = b.input("input", ir::DType::Float, {-1, 3});
  auto w = b.initializer("w", at::tensor({1.0f, -2.0f, 0.5f, 0.25f, 1.5f, -1.0f}).reshape({3, 2}));
  auto bias = b.initializer("b", at::tensor({0.1f, -0.1f}));
  auto h = b.add1("MatMul", {x, w});
  b.output(b.add1("Add", {h, bias}), "logits");
  return b.finish();
}

TEST(Optimizer, DecaysOnlyLinearWeights) {
  ir::Graph g = tiny_mlp();
  auto params = optim::parameters_for_training(g);
  ASSERT_EQ(params.size(), 2u);
  for (const auto& p : params) EXPECT_EQ(p.decay, p.name == "w") << p.name;
  ir::Graph r = ir::zoo::build("resnet8", {});
  for (const auto& p : optim::parameters_for_training(r))
    EXPECT_EQ(p.decay, p.tensor.dim() >= 2) << p.name;  // conv/linear weights only: no BN, no biases
}

TEST(Optimizer, SgdNesterovMatchesTheFormula) {
  at::Tensor p = at::tensor({1.0f, -1.0f});
  optim::Optimizer opt({{"p", p, true}}, {"sgd", 0.9, true, 0.1});
  const at::Tensor g = at::tensor({0.5f, 0.25f});
  at::Tensor buf = at::zeros({2}), ref = p.clone();
  for (int step = 0; step < 3; ++step) {
    p.mutable_grad() = g.clone();
    opt.step(0.1);
    at::Tensor gg = g + 0.1 * ref;  // coupled weight decay
    buf = step == 0 ? gg : 0.9 * buf + gg;
    ref = ref - 0.1 * (gg + 0.9 * buf);
  }
  EXPECT_TRUE(at::allclose(p, ref, 1e-6, 1e-7)) << p << ref;
}

TEST(Optimizer, AdamWMatchesTheFormula) {
  at::Tensor p = at::tensor({1.0f, -1.0f});
  optim::OptimizerOptions o;
  o.kind = "adamw";
  o.weight_decay = 0.05;
  optim::Optimizer opt({{"p", p, true}}, o);
  at::Tensor m = at::zeros({2}), v = at::zeros({2}), ref = p.clone();
  for (int t = 1; t <= 3; ++t) {
    const at::Tensor g = at::tensor({0.5f * t, -0.25f});
    p.mutable_grad() = g.clone();
    opt.step(0.01);
    ref = ref * (1 - 0.01 * 0.05);
    m = 0.9 * m + 0.1 * g;
    v = 0.999 * v + 0.001 * g * g;
    ref = ref - 0.01 * (m / (1 - std::pow(0.9, t))) / ((v / (1 - std::pow(0.999, t))).sqrt() + 1e-8);
  }
  EXPECT_TRUE(at::allclose(p, ref, 1e-6, 1e-7)) << p << ref;
  EXPECT_THROW(optim::Optimizer({}, {"lion"}), Error);
}

TEST(Optimizer, ClipsTheGlobalNorm) {
  at::Tensor a = at::zeros({2}), b = at::zeros({1});
  optim::Optimizer opt({{"a", a, false}, {"b", b, false}}, {});
  a.mutable_grad() = at::tensor({3.0f, 0.0f});
  b.mutable_grad() = at::tensor({4.0f});
  EXPECT_NEAR(opt.clip_grad_norm(1.0), 5.0, 1e-6);
  EXPECT_NEAR(at::cat({a.grad(), b.grad()}).norm().item<double>(), 1.0, 1e-4);
}

// A few thousand Fashion-MNIST images and a small ResNet: enough to see learning in seconds.
struct SmallRun {
  data::Dataset train, val;
  SmallRun() {
    train = data::random_subset(data::load_dataset(data::DatasetSpec::parse("fmnist:train")), 4096, 1);
    val = data::random_subset(data::load_dataset(data::DatasetSpec::parse("fmnist:test")), 512, 2);
  }
  static ir::Graph model() {
    ir::zoo::ZooOptions zo;
    zo.width = 0.5;
    zo.seed = 7;
    return ir::zoo::build("resnet8", zo);
  }
  static TrainOptions options() {
    TrainOptions o;
    o.epochs = 3;
    o.batch_size = 64;
    o.lr = 0.1;
    o.optimizer.nesterov = true;
    o.optimizer.weight_decay = 5e-4;
    o.label_smoothing = 0.1;
    o.augment.crop_padding = 2;
    o.seed = 5;
    o.quiet = true;
    return o;
  }
};

bool fmnist_available() { return fs::exists(data::DataPaths{}.fmnist_dir + "/train-images-idx3-ubyte.gz"); }

TEST(Trainer, LearnsFashionMnistAndKeepsTheGraph) {
  if (!fmnist_available()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  SmallRun run;
  ir::Graph g = SmallRun::model();
  const size_t nodes = g.nodes.size();
  exec::Executor before(g);
  const double acc0 = evaluate(before, run.val).top1;
  TrainResult r = fit(g, run.train, &run.val, SmallRun::options());
  ASSERT_EQ(r.history.size(), 3u);
  EXPECT_EQ(r.steps, 3 * 64);
  EXPECT_LT(r.history.back().train_loss, r.history.front().train_loss);
  EXPECT_GT(r.history.back().val_top1, 60.0) << "started at " << acc0;
  EXPECT_GT(r.history.back().val_top1, acc0 + 30);
  EXPECT_EQ(g.nodes.size(), nodes);
  EXPECT_EQ(g.inputs[0].name, "input");
  EXPECT_EQ(g.outputs[0].name, "logits");
  for (const auto& [name, t] : g.initializers) EXPECT_FALSE(t.requires_grad()) << name;
  // The graph's own BatchNorm statistics were trained: evaluation agrees with the last epoch.
  exec::Executor after(g);
  EXPECT_NEAR(evaluate(after, run.val).top1, r.history.back().val_top1, 1e-9);
}

TEST(Trainer, ResumeGivesTheSameWeightsAsAnUninterruptedRun) {
  if (!fmnist_available()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  SmallRun run;
  TrainOptions o = SmallRun::options();
  o.epochs = 2;
  ir::Graph straight = SmallRun::model();
  fit(straight, run.train, nullptr, o);

  ir::Graph resumed = SmallRun::model();
  o.checkpoint = temp_path("resume.ckpt");
  o.max_steps = 64 + 5;  // stops 5 steps into the second epoch, as an interruption would
  fit(resumed, run.train, nullptr, o);
  ir::Graph fresh = SmallRun::model();  // a new process would start from the untrained file
  o.max_steps = 0;
  o.resume = true;
  TrainResult r = fit(fresh, run.train, nullptr, o);
  EXPECT_EQ(r.steps, 64 - 5);
  for (const auto& [name, t] : straight.initializers)
    EXPECT_TRUE(at::allclose(t, fresh.initializers.at(name), 1e-5, 1e-6)) << name;
  fs::remove(o.checkpoint);
}

TEST(Trainer, RefusesBadInputBeforeTraining) {
  ir::Graph g = SmallRun::model();
  data::Dataset d;
  d.name = "handmade";
  d.inputs = at::rand({256, 1, 28, 28});
  d.labels = at::arange(256, at::kLong).remainder(11);  // class 10 does not exist
  TrainOptions o = SmallRun::options();
  try {
    fit(g, d, nullptr, o);
    FAIL() << "label 10 accepted by a 10-class model";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("outside the model's 10 classes"), std::string::npos) << e.what();
  }
  d.labels = d.labels.remainder(10);
  d.inputs = at::rand({256, 1, 32, 32});
  try {
    fit(g, d, nullptr, o);
    FAIL() << "32x32 samples accepted by a 28x28 model";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("do not fit the model input"), std::string::npos) << e.what();
  }
}

TEST(Checkpoint, RoundTripsAndRejectsAnotherModelOrDamage) {
  ir::Graph g = SmallRun::model();
  Checkpoint c;
  c.fingerprint = graph_fingerprint(g);
  c.epochs_done = 2;
  c.steps_done = 77;
  for (const auto& [name, t] : g.initializers)
    if (t.is_floating_point()) c.weights[name] = t + 1;
  c.optimizer["x/m"] = at::arange(5, at::kFloat);
  const std::string path = temp_path("rt.ckpt");
  save_checkpoint(path, c);
  Checkpoint back = load_checkpoint(path);
  EXPECT_EQ(back.steps_done, 77);
  EXPECT_TRUE(back.optimizer.at("x/m").equal(c.optimizer.at("x/m")));
  restore_weights(g, back, path);
  for (const auto& [name, t] : c.weights) EXPECT_TRUE(g.initializers.at(name).equal(t)) << name;

  ir::zoo::ZooOptions wide;
  wide.width = 1.0;
  ir::Graph other = ir::zoo::build("resnet8", wide);
  try {
    restore_weights(other, back, path);
    FAIL() << "a checkpoint of another model was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("another model"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  // Truncation anywhere is an error naming the file, never a crash or a half-filled tensor.
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  for (size_t cut : {size_t{3}, size_t{12}, size_t{30}, bytes.size() / 2, bytes.size() - 1}) {
    std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(cut));
    EXPECT_THROW(load_checkpoint(path), Error) << "cut at " << cut;
  }
  fs::remove(path);
  EXPECT_THROW(load_checkpoint(path), Error);
}

}  // namespace
}  // namespace pare::train
