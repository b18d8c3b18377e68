// Round-to-nearest quantization of one weight tensor on a grid, with scales chosen per tensor, output
// channel or group (scale_search.h): the base quantizer most methods build on.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <string>

#include "pare/quant/format_types.h"
#include "pare/quant/scale_search.h"

namespace pare::quant {

struct WeightQuantOptions {
  Grid grid = Grid::uniform(8);
  Granularity granularity = Granularity::channel();
  ScaleOptions scale;
};

// `w` as float, detached, after the checks every weight quantizer makes: `out_axis` within its rank, every
// value finite. Errors name tensor `name`.
at::Tensor checked_weight(const at::Tensor& w, int64_t out_axis, const std::string& name);

// The imatrix importance of `o` (per column of an [O, R] matrix) laid out as the rows of granularity `g`
// (to_rows), for choose_scales; undefined when `o` is not an imatrix search with importance.
at::Tensor importance_rows(const ScaleOptions& o, int64_t rows_o, int64_t r, const Granularity& g,
                           const std::string& name);

// Quantizes `w` with output channels on `out_axis`. `name` names the tensor in errors (NaN/Inf weights,
// a bad grid). A row of zeros gets scale 0 and dequantizes to exact zeros.
QuantizedTensor quantize_weight(const at::Tensor& w, int64_t out_axis, const WeightQuantOptions& options,
                                const std::string& name);

}  // namespace pare::quant
