// The training loop: batches from the background loader, forward through the executor in training
// mode, cross-entropy (with label smoothing) on the first output, backward, clip, optimizer step.
#include "pare/train/trainer.h"

#include <chrono>
#include <tuple>

#include "pare/error.h"
#include "pare/exec/executor.h"
#include "pare/report/progress.h"
#include "pare/train/batch_loader.h"
#include "pare/train/checkpoint.h"
#include "pare/train/evaluate.h"
#include "pare/train/lr_schedule.h"

namespace pare::train {

nlohmann::json EpochRecord::to_json() const {
  nlohmann::json j = {{"epoch", epoch},           {"lr", lr},           {"train_loss", train_loss},
                      {"train_top1", train_top1}, {"seconds", seconds}, {"images_per_second", images_per_second}};
  if (val_top1 >= 0) {
    j["val_loss"] = val_loss;
    j["val_top1"] = val_top1;
    j["val_top5"] = val_top5;
  }
  return j;
}

EpochRecord EpochRecord::from_json(const nlohmann::json& j) {
  EpochRecord r;
  r.epoch = j.value("epoch", int64_t{0});
  r.lr = j.value("lr", 0.0);
  r.train_loss = j.value("train_loss", 0.0);
  r.train_top1 = j.value("train_top1", 0.0);
  r.val_loss = j.value("val_loss", 0.0);
  r.val_top1 = j.value("val_top1", -1.0);
  r.val_top5 = j.value("val_top5", -1.0);
  r.seconds = j.value("seconds", 0.0);
  r.images_per_second = j.value("images_per_second", 0.0);
  return r;
}

nlohmann::json TrainResult::to_json() const {
  nlohmann::json h = nlohmann::json::array();
  for (const auto& e : history) h.push_back(e.to_json());
  return {{"epochs", h},
          {"train",
           {{"steps", steps},
            {"images", images},
            {"seconds", train_seconds},
            {"images_per_second", images_per_second()},
            {"interrupted", interrupted}}}};
}

namespace {

void check_options(const TrainOptions& o, const data::Dataset& train) {
  if (o.epochs < 1) throw Error("--epochs must be at least 1").got(std::to_string(o.epochs));
  if (o.batch_size < 1) throw Error("--batch-size must be at least 1");
  if (train.size() < o.batch_size)
    throw Error("the training set has fewer samples than one batch")
        .got(std::to_string(train.size()) + " samples in " + train.name + ", batch size " +
             std::to_string(o.batch_size))
        .hint("lower --batch-size");
  if (!(o.lr > 0)) throw Error("--lr must be positive");
  if (o.min_lr < 0 || o.min_lr > o.lr) throw Error("--min-lr must be in [0, lr]");
  if (o.schedule != "cosine" && o.schedule != "constant")
    throw Error("unknown schedule '" + o.schedule + "'").expected("cosine or constant");
  if (o.warmup_epochs < 0 || o.warmup_epochs >= o.epochs) throw Error("--warmup-epochs must be in [0, epochs)");
  if (o.label_smoothing < 0 || o.label_smoothing >= 1) throw Error("--label-smoothing must be in [0, 1)");
  if (o.clip_grad_norm < 0) throw Error("--clip-grad-norm must not be negative");
  if (o.resume && o.checkpoint.empty()) throw Error("--resume needs a checkpoint file");
}

// Sets requires_grad on the trainable tensors for the run and clears it afterwards, even on error,
// so that the graph handed back (and exported) holds plain tensors.
struct GradScope {
  std::vector<Param>& params;
  explicit GradScope(std::vector<Param>& p) : params(p) {
    for (auto& q : params) q.tensor.requires_grad_(true);
  }
  ~GradScope() {
    for (auto& q : params) {
      q.tensor.mutable_grad() = at::Tensor();
      q.tensor.requires_grad_(false);
    }
  }
};

uint64_t step_seed(uint64_t seed, int64_t step) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(step) + 1;
  z = (z ^ (z >> 31)) * 0xBF58476D1CE4E5B9ull;
  return (z ^ (z >> 29)) & 0x7FFFFFFFFFFFull;
}

}  // namespace

TrainResult fit(ir::Graph& graph, const data::Dataset& train, const data::Dataset* val, const TrainOptions& o) {
  check_options(o, train);
  exec::ExecOptions eo;
  eo.channels_last = o.channels_last;
  exec::Executor infer(graph, eo);
  // Shape and label checks on both sets first: a mistake must not surface after an hour of training.
  const int64_t classes = check_labels_fit(infer, train);
  if (val) {
    const int64_t vc = check_labels_fit(infer, *val);
    PARE_ASSERT(vc == classes, "class count changed between runs");
  }
  std::vector<Param> params = parameters_for_training(graph);
  if (params.empty())
    throw Error("the model has no trainable float initializers").hint("is every weight a Constant node?");
  Optimizer opt(params, o.optimizer);

  const int64_t per_epoch = train.size() / o.batch_size;
  LrSchedule sched;
  sched.kind = o.schedule;
  sched.base_lr = o.lr;
  sched.min_lr = o.min_lr;
  sched.warmup_steps = static_cast<int64_t>(o.warmup_epochs * per_epoch);
  sched.total_steps = o.epochs * per_epoch;

  TrainResult result;
  int64_t start_epoch = 0, step = 0;
  const std::string fingerprint = graph_fingerprint(graph);
  if (o.resume) {
    Checkpoint c = load_checkpoint(o.checkpoint);
    restore_weights(graph, c, o.checkpoint);
    opt.load_state(c.optimizer, c.steps_done);
    start_epoch = c.epochs_done;
    step = c.steps_done;
    for (const auto& e : c.info.value("history", nlohmann::json::array()))  // not a partial epoch's record
      if (e.value("epoch", int64_t{0}) <= start_epoch) result.history.push_back(EpochRecord::from_json(e));
    if (start_epoch >= o.epochs)
      throw Error("the checkpoint has already finished " + std::to_string(start_epoch) + " epochs")
          .file(o.checkpoint)
          .hint("ask for more --epochs to train further");
  }

  const auto save = [&](int64_t epochs_done) {
    if (o.checkpoint.empty()) return;
    Checkpoint c;
    c.fingerprint = fingerprint;
    c.epochs_done = epochs_done;
    c.steps_done = step;
    for (const auto& [name, t] : graph.initializers)
      if (t.is_floating_point()) c.weights[name] = t;
    c.optimizer = opt.state();
    nlohmann::json h = nlohmann::json::array();
    for (const auto& e : result.history) h.push_back(e.to_json());
    c.info = {{"history", h}, {"epochs", o.epochs}, {"seed", o.seed}};
    save_checkpoint(o.checkpoint, c);
  };

  if (o.on_ready) o.on_ready(per_epoch);
  GradScope grads(params);
  exec::ExecOptions to = eo;
  to.training = true;
  exec::Executor trainer(graph, to);
  const std::string in_name = graph.inputs[0].name, out_name = graph.outputs[0].name;
  const int64_t total_steps = o.max_steps > 0 ? std::min(o.max_steps, sched.total_steps) : sched.total_steps;
  const int64_t bar_start = step;  // the bar (and its ETA) covers this run's steps
  report::Progress progress("train", total_steps - bar_start, o.quiet);

  for (int64_t epoch = start_epoch; epoch < o.epochs && step < total_steps; ++epoch) {
    BatchLoader loader(train, o.batch_size, o.augment, o.seed, epoch);
    // A checkpoint written mid-epoch (interruption) resumes at the next batch of the same order.
    int64_t skip = step - epoch * per_epoch;
    double loss_sum = 0;
    int64_t correct = 0, scored = 0, seen = 0, epoch_steps = 0;  // scored: positions (tokens) or samples
    double epoch_seconds = 0;
    Batch b;
    while (step < total_steps && loader.next(b)) {
      if (skip > 0) {
        --skip;
        continue;
      }
      const auto t0 = std::chrono::steady_clock::now();
      at::manual_seed(step_seed(o.seed, step));  // Dropout and friends: reproducible per step
      const double lr = sched.at(step);
      at::Tensor logits = trainer.run({{in_name, b.inputs}}, {out_name}).at(out_name);
      at::Tensor labels;
      std::tie(logits, labels) = flatten_positions(logits, b.labels, out_name);
      if (logits.size(1) != classes)
        throw Error("model output width changed in training mode")
            .tensor(out_name)
            .expected(std::to_string(classes) + " classes")
            .got(ir::shape_string(logits.sizes()));
      at::Tensor loss = at::cross_entropy_loss(logits, labels, {}, at::Reduction::Mean, -100, o.label_smoothing);
      opt.zero_grad();
      loss.backward();
      if (o.clip_grad_norm > 0) opt.clip_grad_norm(o.clip_grad_norm);
      opt.step(lr);
      const double l = loss.item<double>();
      if (!std::isfinite(l))
        throw Error("training diverged: the loss is " + std::to_string(l) + " at step " + std::to_string(step))
            .hint("lower --lr, add --warmup-epochs or --clip-grad-norm");
      {
        at::NoGradGuard ng;
        correct += (logits.detach().argmax(1) == labels).sum().item<int64_t>();
        scored += labels.size(0);
      }
      loss_sum += l * o.batch_size;
      seen += o.batch_size;
      ++step;
      ++epoch_steps;
      epoch_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const double rate = epoch_seconds > 0 ? seen / epoch_seconds : 0;
      progress.update(step - bar_start,
                      fmt::format("epoch {}/{} loss {:.4f} acc {:.2f}% lr {:.4g} {:.0f} img/s", epoch + 1, o.epochs,
                                  loss_sum / seen, 100.0 * correct / scored, lr, rate));
      if (o.should_stop && o.should_stop()) {
        result.interrupted = true;
        break;
      }
    }
    result.steps += epoch_steps;
    result.images += seen;
    result.train_seconds += epoch_seconds;
    if (result.interrupted) {
      save(epoch);
      progress.message(fmt::format("interrupted at step {}; {}", step,
                                   o.checkpoint.empty() ? "no checkpoint file was asked for"
                                                        : "resume with --resume (checkpoint " + o.checkpoint + ")"));
      return result;
    }
    if (seen == 0) continue;
    EpochRecord rec;
    rec.epoch = epoch + 1;
    rec.lr = sched.at(std::max<int64_t>(0, step - 1));
    rec.train_loss = loss_sum / seen;
    rec.train_top1 = 100.0 * correct / scored;
    rec.seconds = epoch_seconds;
    rec.images_per_second = epoch_seconds > 0 ? seen / epoch_seconds : 0;
    if (val) {
      EvalOptions eopt;
      eopt.batch_size = o.eval_batch_size;
      EvalResult r = evaluate(infer, *val, eopt);
      rec.val_loss = r.loss;
      rec.val_top1 = r.top1;
      rec.val_top5 = r.top5;
    }
    result.history.push_back(rec);
    save(step >= (epoch + 1) * per_epoch ? epoch + 1 : epoch);  // --max-steps may stop mid-epoch
    progress.message(fmt::format("epoch {}/{}: train loss {:.4f} acc {:.2f}%{} ({:.0f} s, {:.0f} img/s)", epoch + 1,
                                 o.epochs, rec.train_loss, rec.train_top1,
                                 val ? fmt::format(", val loss {:.4f} top-1 {:.2f}%", rec.val_loss, rec.val_top1) : "",
                                 rec.seconds, rec.images_per_second));
  }
  progress.finish(fmt::format("{} steps, {:.0f} img/s", result.steps, result.images_per_second()));
  return result;
}

}  // namespace pare::train
