// The training loop: batches from the background loader, forward through the executor in training
// mode, cross-entropy (with label smoothing) on the first output, backward, clip, optimizer step.
#include "pare/train/trainer.h"

#include <chrono>
#include <tuple>

#include "pare/blocks/model_data.h"
#include "pare/error.h"
#include "pare/exec/executor.h"
#include "pare/optim/lr_schedule.h"
#include "pare/report/progress.h"
#include "pare/train/batch_loader.h"
#include "pare/train/checkpoint.h"
#include "pare/train/evaluate.h"

namespace pare::train {

nlohmann::json TrainOptions::to_json() const {
  return {{"epochs", epochs},
          {"batch_size", batch_size},
          {"optimizer", optimizer.kind},
          {"lr", lr},
          {"min_lr", min_lr},
          {"schedule", schedule},
          {"warmup_epochs", warmup_epochs},
          {"momentum", optimizer.momentum},
          {"nesterov", optimizer.nesterov},
          {"weight_decay", optimizer.weight_decay},
          {"label_smoothing", label_smoothing},
          {"clip_grad_norm", clip_grad_norm},
          {"augment", augment.to_string()},
          {"seed", seed}};
}

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
  std::vector<optim::Param>& params;
  explicit GradScope(std::vector<optim::Param>& p) : params(p) {
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

optim::LrSchedule schedule_for(const TrainOptions& o, int64_t per_epoch) {
  optim::LrSchedule sched;
  sched.kind = o.schedule;
  sched.base_lr = o.lr;
  sched.min_lr = o.min_lr;
  sched.warmup_steps = static_cast<int64_t>(o.warmup_epochs * per_epoch);
  sched.total_steps = o.epochs * per_epoch;
  return sched;
}

// The state of one fit() call, shared by its steps.
struct Loop {
  const TrainOptions& o;
  ir::Graph& graph;
  const data::Dataset& train;
  const data::Dataset* val;
  exec::Executor& infer;
  optim::Optimizer& opt;
  const optim::LrSchedule sched;
  const int64_t per_epoch, classes;
  const std::string fingerprint;
  TrainResult result{};
  int64_t start_epoch = 0, step = 0;  // step: over all runs, resumed ones included
  // Set once training starts.
  std::string in_name{}, out_name{};
  int64_t total_steps = 0, bar_start = 0;
};

// One epoch's running sums.
struct EpochStats {
  double loss_sum = 0;
  int64_t correct = 0, scored = 0, seen = 0, steps = 0;  // scored: positions (tokens) or samples
  double seconds = 0;
};

void resume_from_checkpoint(Loop& s) {
  Checkpoint c = load_checkpoint(s.o.checkpoint);
  restore_weights(s.graph, c, s.o.checkpoint);
  s.opt.load_state(c.optimizer, c.steps_done);
  s.start_epoch = c.epochs_done;
  s.step = c.steps_done;
  for (const auto& e : c.info.value("history", nlohmann::json::array()))  // not a partial epoch's record
    if (e.value("epoch", int64_t{0}) <= s.start_epoch) s.result.history.push_back(EpochRecord::from_json(e));
  if (s.start_epoch >= s.o.epochs)
    throw Error("the checkpoint has already finished " + std::to_string(s.start_epoch) + " epochs")
        .file(s.o.checkpoint)
        .hint("ask for more --epochs to train further");
}

void write_checkpoint(const Loop& s, int64_t epochs_done) {
  if (s.o.checkpoint.empty()) return;
  Checkpoint c;
  c.fingerprint = s.fingerprint;
  c.epochs_done = epochs_done;
  c.steps_done = s.step;
  for (const auto& [name, t] : s.graph.initializers)
    if (t.is_floating_point()) c.weights[name] = t;
  c.optimizer = s.opt.state();
  nlohmann::json h = nlohmann::json::array();
  for (const auto& e : s.result.history) h.push_back(e.to_json());
  c.info = {{"history", h}, {"epochs", s.o.epochs}, {"seed", s.o.seed}};
  save_checkpoint(s.o.checkpoint, c);
}

// Forward, cross-entropy, backward, clip and optimizer step on one batch; returns the step's learning rate.
double train_step(Loop& s, exec::Executor& trainer, const Batch& b, EpochStats& st) {
  const TrainOptions& o = s.o;
  at::manual_seed(step_seed(o.seed, s.step));  // Dropout and friends: reproducible per step
  const double lr = s.sched.at(s.step);
  at::Tensor logits = trainer.run({{s.in_name, b.inputs}}, {s.out_name}).at(s.out_name);
  at::Tensor labels;
  std::tie(logits, labels) = blocks::flatten_positions(logits, b.labels, s.out_name);
  if (logits.size(1) != s.classes)
    throw Error("model output width changed in training mode")
        .tensor(s.out_name)
        .expected(std::to_string(s.classes) + " classes")
        .got(ir::shape_string(logits.sizes()));
  at::Tensor loss = at::cross_entropy_loss(logits, labels, {}, at::Reduction::Mean, -100, o.label_smoothing);
  s.opt.zero_grad();
  loss.backward();
  if (o.clip_grad_norm > 0) s.opt.clip_grad_norm(o.clip_grad_norm);
  s.opt.step(lr);
  const double l = loss.item<double>();
  if (!std::isfinite(l))
    throw Error("training diverged: the loss is " + std::to_string(l) + " at step " + std::to_string(s.step))
        .hint("lower --lr, add --warmup-epochs or --clip-grad-norm");
  {
    at::NoGradGuard ng;
    st.correct += (logits.detach().argmax(1) == labels).sum().item<int64_t>();
    st.scored += labels.size(0);
  }
  st.loss_sum += l * o.batch_size;
  st.seen += o.batch_size;
  ++s.step;
  ++st.steps;
  return lr;
}

// The steps of `epoch` until it ends, total_steps is reached or should_stop asks (result.interrupted).
EpochStats train_epoch(Loop& s, exec::Executor& trainer, BatchLoader& loader, report::Progress& progress,
                       int64_t epoch) {
  const TrainOptions& o = s.o;
  // A checkpoint written mid-epoch (interruption) resumes at the next batch of the same order.
  int64_t skip = s.step - epoch * s.per_epoch;
  EpochStats st;
  Batch b;
  while (s.step < s.total_steps && loader.next(b)) {
    if (skip > 0) {
      --skip;
      continue;
    }
    const auto t0 = std::chrono::steady_clock::now();
    const double lr = train_step(s, trainer, b, st);
    st.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double rate = st.seconds > 0 ? st.seen / st.seconds : 0;
    progress.update(s.step - s.bar_start,
                    fmt::format("epoch {}/{} loss {:.4f} acc {:.2f}% lr {:.4g} {:.0f} img/s", epoch + 1, o.epochs,
                                st.loss_sum / st.seen, 100.0 * st.correct / st.scored, lr, rate));
    if (o.should_stop && o.should_stop()) {
      s.result.interrupted = true;
      break;
    }
  }
  s.result.steps += st.steps;
  s.result.images += st.seen;
  s.result.train_seconds += st.seconds;
  return st;
}

// The history record of a finished epoch, with its validation when there is a validation set.
EpochRecord epoch_record(Loop& s, const EpochStats& st, int64_t epoch) {
  EpochRecord rec;
  rec.epoch = epoch + 1;
  rec.lr = s.sched.at(std::max<int64_t>(0, s.step - 1));
  rec.train_loss = st.loss_sum / st.seen;
  rec.train_top1 = 100.0 * st.correct / st.scored;
  rec.seconds = st.seconds;
  rec.images_per_second = st.seconds > 0 ? st.seen / st.seconds : 0;
  if (s.val) {
    EvalOptions eopt;
    eopt.batch_size = s.o.eval_batch_size;
    EvalResult r = evaluate(s.infer, *s.val, eopt);
    rec.val_loss = r.loss;
    rec.val_top1 = r.top1;
    rec.val_top5 = r.top5;
  }
  return rec;
}

// The epochs of this run with `trainer` (the executor in training mode); a checkpoint after each.
void run_epochs(Loop& s, exec::Executor& trainer) {
  const TrainOptions& o = s.o;
  s.in_name = s.graph.inputs[0].name;
  s.out_name = s.graph.outputs[0].name;
  s.total_steps = o.max_steps > 0 ? std::min(o.max_steps, s.sched.total_steps) : s.sched.total_steps;
  s.bar_start = s.step;  // the bar (and its ETA) covers this run's steps
  report::Progress progress("train", s.total_steps - s.bar_start, o.quiet);

  for (int64_t epoch = s.start_epoch; epoch < o.epochs && s.step < s.total_steps; ++epoch) {
    BatchLoader loader(s.train, o.batch_size, o.augment, o.seed, epoch);
    const EpochStats st = train_epoch(s, trainer, loader, progress, epoch);
    if (s.result.interrupted) {
      write_checkpoint(s, epoch);
      progress.message(fmt::format("interrupted at step {}; {}", s.step,
                                   o.checkpoint.empty() ? "no checkpoint file was asked for"
                                                        : "resume with --resume (checkpoint " + o.checkpoint + ")"));
      return;
    }
    if (st.seen == 0) continue;
    const EpochRecord rec = epoch_record(s, st, epoch);
    s.result.history.push_back(rec);
    write_checkpoint(s, s.step >= (epoch + 1) * s.per_epoch ? epoch + 1 : epoch);  // --max-steps may stop mid-epoch
    progress.message(fmt::format(
        "epoch {}/{}: train loss {:.4f} acc {:.2f}%{} ({:.0f} s, {:.0f} img/s)", epoch + 1, o.epochs, rec.train_loss,
        rec.train_top1, s.val ? fmt::format(", val loss {:.4f} top-1 {:.2f}%", rec.val_loss, rec.val_top1) : "",
        rec.seconds, rec.images_per_second));
  }
  progress.finish(fmt::format("{} steps, {:.0f} img/s", s.result.steps, s.result.images_per_second()));
}

}  // namespace

TrainResult fit(ir::Graph& graph, const data::Dataset& train, const data::Dataset* val, const TrainOptions& o) {
  check_options(o, train);
  exec::ExecOptions eo;
  eo.channels_last = o.channels_last;
  exec::Executor infer(graph, eo);
  // Shape and label checks on both sets first: a mistake must not surface after an hour of training.
  const int64_t classes = blocks::check_labels_fit(infer, train);
  if (val) {
    const int64_t vc = blocks::check_labels_fit(infer, *val);
    PARE_ASSERT(vc == classes, "class count changed between runs");
  }
  std::vector<optim::Param> params = optim::parameters_for_training(graph);
  if (params.empty())
    throw Error("the model has no trainable float initializers").hint("is every weight a Constant node?");
  optim::Optimizer opt(params, o.optimizer);

  const int64_t per_epoch = train.size() / o.batch_size;
  Loop s{o, graph, train, val, infer, opt, schedule_for(o, per_epoch), per_epoch, classes, graph_fingerprint(graph)};
  if (o.resume) resume_from_checkpoint(s);

  if (o.on_ready) o.on_ready(per_epoch);
  GradScope grads(params);
  exec::ExecOptions to = eo;
  to.training = true;
  exec::Executor trainer(graph, to);
  run_epochs(s, trainer);
  return std::move(s.result);
}

}  // namespace pare::train
