// Classification evaluation: the single definition of accuracy every pare method reports.
// Top-1/top-5 accuracy (%), mean cross-entropy, per-class accuracy and throughput over a dataset.
// Sequence models (logits [N, T, C], labels [N, T], e.g. a language model's next tokens) are scored per
// position: accuracy and loss are means over every position; per-class accuracy is left out.
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "pare/data/dataset.h"
#include "pare/exec/executor.h"

namespace pare::train {

struct EvalResult {
  int64_t samples = 0;
  int64_t positions = 0;               // scored labels: samples, or samples x T for sequence outputs
  double top1 = 0, top5 = 0;           // percent
  double loss = 0;                     // mean cross-entropy (nats)
  std::vector<double> per_class_top1;  // percent, by label
  double seconds = 0;
  double samples_per_second() const { return seconds > 0 ? samples / seconds : 0; }
  nlohmann::json to_json() const;
};

struct EvalOptions {
  int64_t batch_size = 256;
  std::string output;  // graph output holding logits; empty = the first output
  // Called after each batch with (samples done, samples total).
  std::function<void(int64_t, int64_t)> progress;
};

// Runs `ex` (inference mode) over `data` in batches. Throws Error if a label is outside the model's
// class count or the dataset's sample shape does not fit the model input.
EvalResult evaluate(exec::Executor& ex, const data::Dataset& data, const EvalOptions& options = {});

}  // namespace pare::train
