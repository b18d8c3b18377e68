// The format layer's types (src/pare/formats) under the names quant code uses for them: quantization
// methods produce these, the format layer owns their layout, dequantization and storage accounting.
#pragma once
#include "pare/formats/granularity.h"
#include "pare/formats/grid.h"
#include "pare/formats/quantized_tensor.h"
#include "pare/formats/quantized_weight.h"
#include "pare/formats/row_codes.h"

namespace pare::quant {

using formats::dequantize_rows;
using formats::from_matrix;
using formats::from_rows;
using formats::Granularity;
using formats::Grid;
using formats::GridKind;
using formats::quantize_rows;
using formats::QuantizedTensor;
using formats::QuantizedWeight;
using formats::ResidualTerm;
using formats::scale_shape;
using formats::to_matrix;
using formats::to_rows;

}  // namespace pare::quant
