// Spatial padding shared by Conv, ConvTranspose and the pools: ONNX `pads` ([b1..bn, e1..en]) or
// `auto_pad`, resolved to begin/end amounts; asymmetric padding is applied explicitly.
#pragma once
#include "pare/ops/op_context.h"

namespace pare::ops {

struct Padding {
  std::vector<int64_t> begin, end;
  bool symmetric() const { return begin == end; }
};

// `spatial`: input sizes of the spatial dims. kernel/strides/dilations have one entry per spatial dim.
// ceil_mode only affects how SAME padding is not needed; it is handled by the pooling ops themselves.
Padding resolve_padding(const OpContext& ctx, at::IntArrayRef spatial, const std::vector<int64_t>& kernel,
                        const std::vector<int64_t>& strides, const std::vector<int64_t>& dilations);

// Pads the spatial dims (all dims after the first two) of `x` by begin/end with `value`.
at::Tensor pad_spatial(const at::Tensor& x, const Padding& p, double value = 0.0);

}  // namespace pare::ops
