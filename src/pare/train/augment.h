// Deterministic batch augmentation for image classification: random crop after zero padding and
// horizontal flip. The same (seed, epoch, batch) always gives the same crops and flips.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <string>

namespace pare::train {

struct AugmentOptions {
  int64_t crop_padding = 0;  // 0: no random crop
  bool hflip = false;
  bool any() const { return crop_padding > 0 || hflip; }
  // "none" or a comma list of "crop:P" and "hflip" (e.g. "crop:2,hflip"); throws Error otherwise.
  static AugmentOptions parse(const std::string& text);
  std::string to_string() const;
};

// `x` is [B, C, H, W]; returns a new tensor of the same shape. `stream` selects the random stream
// (callers pass a hash of seed, epoch and batch index).
at::Tensor augment_batch(const at::Tensor& x, const AugmentOptions& options, uint64_t stream);

}  // namespace pare::train
