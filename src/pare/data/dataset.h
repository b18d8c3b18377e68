// Datasets held in memory as tensors, and the one spec grammar every command uses to name them:
//   fmnist:train | fmnist:test          Fashion-MNIST (Debian's dataset-fashion-mnist), pixels / 255
//   npy:DIR                             DIR/inputs.npy [N, ...] (+ optional DIR/labels.npy [N])
// each optionally followed by :COUNT[:SEED] for a seeded random subset (e.g. fmnist:train:512:1).
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <optional>
#include <string>

namespace pare::data {

struct Dataset {
  std::string name;
  at::Tensor inputs;  // [N, ...] float32, in the units the model expects
  at::Tensor labels;  // [N] int64, or undefined when unlabeled
  int64_t num_classes = 0;
  int64_t size() const { return inputs.defined() ? inputs.size(0) : 0; }
};

struct DatasetSpec {
  std::string kind;  // "fmnist", "npy"
  std::string arg;   // split or folder
  std::optional<int64_t> count;
  uint64_t seed = 0;
  std::string text;  // as the user wrote it, for messages and reports

  // Throws Error listing the valid forms when `text` does not parse.
  static DatasetSpec parse(const std::string& text);
};

struct DataPaths {
  std::string fmnist_dir = "/usr/share/datasets/fashion-mnist";
};

Dataset load_dataset(const DatasetSpec& spec, const DataPaths& paths = {});
// `count` samples drawn without replacement with a generator seeded by `seed` (same seed, same subset).
Dataset random_subset(const Dataset& d, int64_t count, uint64_t seed);

}  // namespace pare::data
