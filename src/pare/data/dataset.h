// Datasets held in memory as tensors, and the one spec grammar every command uses to name them:
//   fmnist:train | fmnist:test          Fashion-MNIST (Debian's dataset-fashion-mnist), pixels / 255
//   npy:DIR                             DIR/inputs.npy [N, ...] (+ optional DIR/labels.npy [N])
//   npz:FILE.npz                        numpy.savez(_compressed) archive: `inputs` (or `x`) [N, ...] as float32,
//                                       optional integer `labels` (or `y`) [N]
//   folder:DIR                          ImageNet layout DIR/<class>/<image>.png|.jpg|.jpeg; classes are the sorted
//                                       subfolder names (label = index); pixels / 255, see ImageTransform
// each optionally followed by :COUNT[:SEED] for a seeded random subset (e.g. fmnist:train:512:1).
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pare::data {

struct Dataset {
  std::string name;
  at::Tensor inputs;  // [N, ...] float32 in the units the model expects, or int64 token ids [N, T]
  at::Tensor labels;  // [N] int64 (or [N, T]: one label per position), or undefined when unlabeled
  int64_t num_classes = 0;
  int64_t size() const { return inputs.defined() ? inputs.size(0) : 0; }
};

struct DatasetSpec {
  std::string kind;  // "fmnist", "npy", "npz", "folder"
  std::string arg;   // split, folder or file
  std::optional<int64_t> count;
  uint64_t seed = 0;
  std::string text;  // as the user wrote it, for messages and reports

  // Throws Error listing the valid forms when `text` does not parse.
  static DatasetSpec parse(const std::string& text);
};

struct DataPaths {
  std::string fmnist_dir = "/usr/share/datasets/fashion-mnist";
};

// How folder: images become a [N, C, H, W] float32 tensor (other kinds ignore it). 0 = keep as stored.
// Order: decode, channels (1: luma 0.299 R + 0.587 G + 0.114 B; 3: gray repeated), resize the shorter side to
// `resize_shorter` (bilinear, half-pixel centers, no antialias; the longer side is scaled and truncated as
// torchvision does), center crop to height x width, / 255, then (x - mean[c]) / std[c].
// With height/width set and resize_shorter == 0 the shorter side goes to round(max(height, width) / 0.875)
// first (the ImageNet 224-of-256 protocol); a single one of height/width set means a square crop.
// With height == width == 0 every image (after any resize) must have the same size.
// channels == 0 keeps 1 channel when every image is grayscale and 3 otherwise.
// mean/std: empty, or one value (every channel) or one per channel.
struct ImageTransform {
  int64_t channels = 0;
  int64_t height = 0, width = 0;
  int64_t resize_shorter = 0;
  std::vector<float> mean, std;
};

Dataset load_dataset(const DatasetSpec& spec, const DataPaths& paths = {}, const ImageTransform& transform = {});
// `count` samples drawn without replacement with a generator seeded by `seed` (same seed, same subset).
Dataset random_subset(const Dataset& d, int64_t count, uint64_t seed);

}  // namespace pare::data
