// formats::QuantizedWeight: a quantized weight as a sum of terms. The main term is one QuantizedTensor over
// every output row; residual-expansion terms (REx, docs/methods/rex.md) each quantize what the terms before
// them left over, over all output rows or a subset of them, with their own scales. A weight with no
// residual terms is exactly its main tensor: that is what every method but REx produces.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

#include "pare/formats/quantized_tensor.h"

namespace pare::formats {

// One residual term: a quantized [k, R] matrix (out_axis 0) over the output rows listed in `rows` (int64,
// ascending; undefined: all O rows).
struct ResidualTerm {
  QuantizedTensor q;
  at::Tensor rows;
};

struct QuantizedWeight {
  QuantizedTensor main;
  std::vector<ResidualTerm> terms;

  QuantizedWeight() = default;
  QuantizedWeight(QuantizedTensor q) : main(std::move(q)) {}  // NOLINT: a single-term weight, implicitly

  int64_t numel() const { return main.numel(); }
  int64_t out_channels() const { return main.out_channels(); }
  // Float value in the main tensor's shape: the sum of all terms, added in a fixed order.
  at::Tensor dequantize() const;
  // Storage and compute of the expansion relative to the main term alone: 1 + sum of k_term / O.
  double cost_factor() const;
  // Storage in bits: every term's codes count as codes; their scales, and a row mask of O bits for each
  // term over a subset of rows, as overhead.
  double code_bits() const;
  double overhead_bits() const;
  double storage_bits() const { return code_bits() + overhead_bits(); }
  double bits_per_weight() const { return storage_bits() / static_cast<double>(numel()); }
};

}  // namespace pare::formats
