// quant::QuantizedLayer: what quantization did to one layer, the same for ONNX graphs and Llamas: its plan,
// its quantized weight, the error measure and the method's own fields; one JSON row per layer, and the totals
// every report quotes (bits per weight, expansion cost, relative bit operations).
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pare/quant/format_types.h"
#include "pare/quant/recipe.h"

namespace pare::quant {

struct QuantizedLayer {
  LayerPlan plan;
  QuantizedWeight weight;     // undefined codes when plan.quantize is false
  int64_t numel = 0;          // weights of the layer (float layers too)
  double float_bytes = 0;     // its float storage (float layers: what it keeps)
  double relative_error = 0;  // ||W - Q(W)||^2 / ||W||^2
  double kurtosis = 0;        // excess kurtosis of the float weight (weight_stats.h)
  std::string note;           // a method's fallback on this layer
  nlohmann::json fields;      // method-specific row fields ("exponent", "dfq_equalized", ...): object or null
  std::string expands;        // a PIPE member's copy of a layer: the original weight (at the split, the
                              // member holds further orders of it: storage counts, weights are not recounted)

  // One result row: node, op, weight, quantized, numel, note, and for a quantized layer wbits, abits, grid,
  // granularity, scales, relative_error, bits_per_weight, bytes, cost_factor, kurtosis, terms, the fields.
  nlohmann::json to_json() const;
};

// Totals over the quantized layers; a weight read by several layers counts once, a PIPE member's copy adds
// storage but no weights.
struct WeightTotals {
  double weights = 0;    // quantized weights
  double bits = 0;       // their storage in bits (codes, scales, zero points, tables, expansion terms)
  double cost = 0;       // sum of weights x expansion cost factor
  double wbit_cost = 0;  // sum of weights x weight bits x cost factor
  double bits_per_weight() const { return weights > 0 ? bits / weights : 0; }
  double cost_factor() const { return weights > 0 ? cost / weights : 1; }
  // Bit operations of the quantized layers relative to the same layers at 8-bit weights, counting a layer's
  // MACs as its weight count (exact per token for an LLM's projections).
  double relative_bops() const { return weights > 0 ? wbit_cost / (8 * weights) : 0; }
};
WeightTotals weight_totals(const std::vector<QuantizedLayer>& layers);

}  // namespace pare::quant
