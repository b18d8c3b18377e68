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
#include "pare/quant/bit_operations.h"
#include "pare/quant/dfq.h"
#include "pare/quant/recipe.h"
#include "pare/quant/weight_pass.h"

namespace pare::quant {

struct QuantizeOptions {
  Recipe recipe;
  const data::Dataset* calib = nullptr;  // rtn only: needed when any layer quantizes activations; data-free
                                         // methods refuse it
  CalibrationOptions calibration;
  // Data-free methods: the range the raw model input can take (pixels / 255: {0, 1}); nullopt: unbounded.
  std::optional<std::pair<double, double>> input_range;
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
  BitOperations bops;                                       // per sample (bit_operations.h)
  std::string bops_note;                                    // why bops is empty, when it is
  DfqReport dfq;                                            // dfq: what equalization and bias correction did
  bool dfq_applied = false;
  std::map<std::string, std::string> activation_sources;  // data-free ranges: value -> how derived
  int pipe_members = 1;                                   // PIPE ensemble members (pipe_ensemble.h)
  std::string pipe_note;                                  // why an asked-for ensemble was not built

  double bits_per_weight() const { return quantized_weights > 0 ? quantized_weight_bits / quantized_weights : 0; }
  // Expansion cost factor over the quantized layers, weighted by their weight counts (1 without REx).
  double cost_factor() const;
  nlohmann::json layer_table() const;  // one object per layer: node, op, weight, bits, granularity, error, bytes
};

QuantizeResult quantize_model(const ir::Graph& g, const QuantizeOptions& options);

}  // namespace pare::quant
