// The quantization pipeline every method shares: fold BatchNorm -> plan layers -> calibrate activations
// -> quantize weights -> round biases to the int32 grid -> build the fake-quant graph. `pare quantize` is this plus
// evaluation and export.
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "pare/data/dataset.h"
#include "pare/ir/graph.h"
#include "pare/quant/activation_pass.h"
#include "pare/quant/bias_pass.h"
#include "pare/quant/recipe.h"
#include "pare/quant/weight_pass.h"

namespace pare::quant {

// Methods `recipe.method` may name; the others arrive with their issues.
std::vector<std::string> quantization_methods();

struct QuantizeOptions {
  Recipe recipe;
  const data::Dataset* calib = nullptr;  // needed when any layer quantizes activations
  CalibrationOptions calibration;
  std::function<void(int64_t, int64_t)> calib_progress;  // samples done, total
  std::function<void(size_t, size_t)> weight_progress;   // layers done, total
};

struct QuantizeResult {
  ir::Graph folded;  // the float model after BatchNorm folding: the reference "before"
  ir::Graph qdq;     // float weights, activation Q/DQ inserted: what qdq_export.h turns into ONNX
  ir::Graph fake;    // dequantized weights and activation Q/DQ: what pare evaluates
  std::vector<LayerPlan> plans;
  std::vector<QuantizedLayer> layers;
  std::vector<ActivationQuant> activations;
  std::vector<QuantizedBias> biases;  // int32 biases of layers an integer kernel can run (bias_pass.h)
  double float_bits = 0;              // all initializers of `folded` as stored
  double model_bits = 0;              // quantized weights at their widths + every other initializer
  double quantized_weights = 0, quantized_weight_bits = 0;  // over the quantized layers only

  double bits_per_weight() const { return quantized_weights > 0 ? quantized_weight_bits / quantized_weights : 0; }
  nlohmann::json layer_table() const;  // one object per layer: node, op, weight, bits, granularity, error, bytes
};

QuantizeResult quantize_model(const ir::Graph& g, const QuantizeOptions& options);

}  // namespace pare::quant
