// The quantization pipeline of an ONNX graph: fold BatchNorm -> the method's after_fold hook (dfq: cross-layer
// equalization) -> plan layers -> activation ranges (calibrated on data, or data-free from the model's own
// statistics) -> the weight stage (quantize_blocks.h, the one every model kind shares) -> activation Q/DQ ->
// the method's after_weights hook (dfq: bias correction, rex: PIPE ensembles) -> int32 biases -> the
// fake-quant graph and the accounting. `pare quantize` is this plus evaluation and export.
#pragma once
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "pare/data/dataset.h"
#include "pare/ir/graph.h"
#include "pare/quant/bit_operations.h"
#include "pare/quant/layer_result.h"
#include "pare/quant/method.h"
#include "pare/quant/passes/activation_pass.h"
#include "pare/quant/passes/bias_pass.h"
#include "pare/quant/recipe.h"

namespace pare::quant {

struct QuantizeOptions {
  Recipe recipe;
  const data::Dataset* calib = nullptr;  // calibration samples (methods that take data); data-free ones refuse it
  CalibrationOptions calibration;
  // Data-free methods: the range the raw model input can take (pixels / 255: {0, 1}); nullopt: unbounded.
  std::optional<std::pair<double, double>> input_range;
  std::function<void(int64_t, int64_t)> calib_progress;  // samples done, total
  std::function<void(size_t, size_t)> weight_progress;   // layers done, total
};

struct QuantizeResult {
  Recipe recipe;
  ir::Graph folded;  // the float model after BatchNorm folding (and the method's after_fold): "before"
  ir::Graph qdq;     // float weights, activation Q/DQ inserted: what qdq_export.h turns into ONNX
  ir::Graph fake;    // dequantized weights and activation Q/DQ: what pare evaluates
  std::vector<LayerPlan> plans;
  std::vector<QuantizedLayer> layers;
  std::vector<ActivationQuant> activations;
  std::vector<QuantizedBias> biases;  // int32 biases of layers an integer kernel can run (bias_pass.h)
  double float_bits = 0;              // all initializers of `folded` as stored
  double model_bits = 0;              // quantized weights at their widths + every other initializer
  WeightTotals totals;                // over the quantized layers
  BitOperations bops;                 // per sample (bit_operations.h)
  std::string bops_note;              // why bops is empty, when it is
  std::map<std::string, std::string> activation_sources;    // data-free ranges: value -> how derived
  nlohmann::json method_report = nlohmann::json::object();  // the method's own result fields (rex: pipe_members)
  std::vector<std::string> notes;                           // the method's lines for the terminal report

  double bits_per_weight() const { return totals.bits_per_weight(); }
  double cost_factor() const { return totals.cost_factor(); }
  nlohmann::json layer_table() const;  // QuantizedLayer::to_json of every layer
  // The result as JSON: method, recipe, bits_per_weight, macs, bops, relative_bops, cost_factor, model_bytes,
  // float_model_bytes, layers, activations, and the method's own fields.
  nlohmann::json to_json() const;
};

QuantizeResult quantize_model(const ir::Graph& g, const QuantizeOptions& options);

// Refuses, before any work, a recipe whose method does not apply to `kind` or whose options it refuses for
// that kind (Method::check_model); `source` names the model in the error.
void check_method_applies(const Recipe& recipe, ModelKind kind, const std::string& source);

}  // namespace pare::quant
