// Supervised training of any graph whose ops have autograd (the executor in training mode): a
// classifier's first output is read as logits and trained with cross-entropy. Checkpoints after every
// epoch (and on interruption) so that a run can be resumed where it stopped, with the same batches.
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pare/data/dataset.h"
#include "pare/ir/graph.h"
#include "pare/optim/optimizer.h"
#include "pare/train/augment.h"

namespace pare::train {

struct TrainOptions {
  int64_t epochs = 10;
  int64_t batch_size = 128;
  optim::OptimizerOptions optimizer;
  double lr = 0.1;
  double min_lr = 0;
  std::string schedule = "cosine";  // "cosine" | "constant"
  double warmup_epochs = 0;
  double label_smoothing = 0;
  double clip_grad_norm = 0;  // 0: off
  AugmentOptions augment;
  uint64_t seed = 0;
  int64_t max_steps = 0;       // stop after this many steps in total (0: run all epochs); for benchmarks
  bool channels_last = false;  // 2-D convolutions in NHWC layout
  std::string checkpoint;      // file written after every epoch; empty: none
  bool resume = false;         // continue from `checkpoint`
  int64_t eval_batch_size = 256;
  bool quiet = false;                                     // no progress output
  std::function<bool()> should_stop;                      // polled every step (e.g. set by SIGINT): checkpoint and stop
  std::function<void(int64_t steps_per_epoch)> on_ready;  // called once every check has passed
  // The options a run's report and a trained model's record keep (the schedule, optimizer, regularizers, seed).
  nlohmann::json to_json() const;
};

struct EpochRecord {
  int64_t epoch = 0;  // 1-based
  double lr = 0;      // at the end of the epoch
  double train_loss = 0, train_top1 = 0;
  double val_loss = 0, val_top1 = -1, val_top5 = -1;  // -1: no validation set
  double seconds = 0, images_per_second = 0;          // training part only
  nlohmann::json to_json() const;
  static EpochRecord from_json(const nlohmann::json& j);
};

struct TrainResult {
  std::vector<EpochRecord> history;  // including epochs from before a resume
  int64_t steps = 0;                 // this run
  int64_t images = 0;                // this run
  double train_seconds = 0;          // this run, excluding validation
  bool interrupted = false;          // stopped by should_stop; the checkpoint holds the progress
  double images_per_second() const { return train_seconds > 0 ? images / train_seconds : 0; }
  nlohmann::json to_json() const;
};

// Trains `graph` in place. Everything that can be wrong with the inputs (sample shape, label range,
// options, the checkpoint when resuming) is checked before the first step.
TrainResult fit(ir::Graph& graph, const data::Dataset& train, const data::Dataset* val, const TrainOptions& options);

}  // namespace pare::train
