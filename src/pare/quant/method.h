// quant::Method: everything pare knows about one quantization method, declared once. Recipe parsing and
// validation, the CLI flags, `pare quantize --list-methods`, the result JSON and the refusals for model kinds
// all derive from these entries (method_registry.h); adding a method is its own file(s) plus one entry.
//
// A method runs in up to three places of the pipeline (pipeline.h), each optional:
//   weight         per quantizable weight, with its plan and the recipe (rtn, rex, powerquant, ternary, ...)
//   prepare        once over every planned weight before any is quantized (powerquant's global exponent)
//   graph hooks    on the whole ONNX graph: after BatchNorm folding and after the weights (dfq, PIPE)
//   block          per block with its calibration inputs (block driver: blocks/block_driver.h), for
//                  methods that learn from data
#pragma once
#include <ATen/ATen.h>

#include <any>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pare/quant/format_types.h"
#include "pare/quant/layer_result.h"
#include "pare/quant/method_option.h"
#include "pare/quant/recipe.h"

namespace pare::blocks {
class BlockSource;
class BlockVisit;
}  // namespace pare::blocks

namespace pare::quant {

struct ActivationQuant;
struct ChannelStats;

// What data a method learns from: none (data-free), unlabeled calibration samples, labelled training data.
enum class DataNeed { None, Calibration, Labels };
std::string to_string(DataNeed d);  // "none", "calibration", "labels"

// The kinds of model a method applies to.
enum class ModelKind { Graph, Llama };
std::string to_string(ModelKind k);  // "onnx", "llama"

// Where a method does its work (for --list-methods; the hooks below say it in code).
enum class MethodRun { PerWeight, PerBlock, WholeModel };
std::string to_string(MethodRun r);  // "weight", "block", "model"

// One weight handed to a method: float values, the layer's plan, the recipe (with the method's options),
// what the method's prepare hook computed (null without one) and, under imatrix scales, the importance of
// each input channel (per column of the weight's matrix view; undefined without data).
struct WeightJob {
  const at::Tensor& w;
  const LayerPlan& plan;
  const Recipe& recipe;
  const nlohmann::json& prepared;
  at::Tensor importance;
};

// A method's answer for one weight.
struct LayerWeight {
  QuantizedWeight weight;
  std::string note;       // the fallback taken, if any (weight_method docs)
  nlohmann::json fields;  // method-specific per-layer result fields ("exponent"), an object or null
};

// What whole-graph hooks see and may change (ONNX graphs only).
struct GraphStage {
  const Recipe& recipe;
  ir::Graph& folded;                              // BatchNorm folded; after_fold may rewrite it
  std::map<std::string, ChannelStats>& stats;     // data-free value statistics (data-free methods; else empty)
  ir::Graph* qdq = nullptr;                       // after_weights: activation Q/DQ inserted; may be replaced
  std::vector<QuantizedLayer>* layers = nullptr;  // after_weights: the quantized layers; may be replaced
  const std::vector<ActivationQuant>* activations = nullptr;
  nlohmann::json& report;           // method-specific result fields, merged into the result JSON
  std::vector<std::string>& notes;  // lines for the terminal report ("pipe       2 members ...")
  std::any state;                   // what after_fold hands on to after_weights (one object for both)
};

// One block handed to a method that learns (Method::block): the driver's visit (the block's sub-graph, its
// inputs on the float-prefix and quantized-prefix paths, its float outputs, batch by batch) and the block's
// planned layers, whose `weight` (and note, fields) the method sets. The pipeline then measures each layer's
// error and puts the dequantized weights into the block, so that the blocks after it see them.
struct BlockJob {
  blocks::BlockVisit& visit;
  const blocks::BlockSource& source;    // source.weight(name): a layer's float weight as the model stores it
  std::vector<QuantizedLayer>& layers;  // in plan order; plan, numel and float_bytes set
  const Recipe& recipe;
  // The activation quantizers calibrated before the weights (ONNX graphs with --abits; else null): a method
  // may learn in their presence and refine their scales.
  std::vector<ActivationQuant>* activations = nullptr;
  // Per block output value, per batch: the squared gradient of the model's loss at that value on the float
  // model (diagonal empirical Fisher), when the method asked for it (Method::output_fisher); else null.
  const std::map<std::string, std::vector<at::Tensor>>* output_fisher = nullptr;
  // Float weights of the block the method changed (a norm gain an activation scale was folded into, a layer's
  // weight with that scale applied), by name, laid out as source.weight(name) returns them. The pipeline puts
  // them into the block before the quantized ones and stores them in place of the model's; a quantized
  // layer's error is measured against its changed float weight.
  std::map<std::string, at::Tensor> floats = {};
};

struct Method {
  std::string name;     // as --method and the recipe's "method" spell it
  std::string summary;  // one line for --list-methods
  std::string doc;      // its page in the repository: docs/methods/<page>.md
  DataNeed data = DataNeed::None;
  bool data_required = false;  // with DataNeed::Calibration: refused without it (else used when activations are)
  std::vector<ModelKind> models{ModelKind::Graph, ModelKind::Llama};
  std::vector<GridKind> grids{GridKind::Uniform};
  std::vector<MethodOption> options;
  // Why it does not apply to a model kind it leaves out of `models` (the hint of the refusal).
  std::map<ModelKind, std::string> refusals;

  // Rules across options and the recipe's common fields (e.g. ternary needs wbits 2): throws Error naming
  // `where` (the recipe file, or empty for flags).
  std::function<void(const Recipe&, const std::string& where)> check;
  // Refusals of option values for a model kind it otherwise supports (e.g. no PIPE ensemble for Llamas).
  std::function<void(const Recipe&, ModelKind, const std::string& source)> check_model;

  // Why its results under `recipe` have no QDQ ONNX form (empty: they have one), for the refusal before any
  // work. Unset: derived from `grids` (only a uniform grid is one DequantizeLinear).
  std::function<std::string(const Recipe&)> qdq_refusal;

  std::function<LayerWeight(const WeightJob&)> weight;
  // Called once with every planned weight (float, by weight name) before `weight`; its result is
  // WeightJob::prepared. Graph models only: a streamed Llama never holds every weight at once.
  std::function<nlohmann::json(const std::vector<std::pair<const at::Tensor*, const LayerPlan*>>&, const Recipe&)>
      prepare;
  std::function<void(GraphStage&)> after_fold;
  std::function<void(GraphStage&)> after_weights;
  // Per block with its calibration inputs (methods that learn); runs instead of `weight`, so a method with a
  // block hook declares DataNeed::Calibration and data_required. `weight` stays its data-free fallback for
  // layers outside any block (none today) and for tests.
  std::function<void(BlockJob&)> block;
  // Block methods on ONNX graphs: whether the recipe learns layer by layer (the driver's Layers partition)
  // rather than residual block by block, and whether it needs BlockJob::output_fisher. Unset: false.
  std::function<bool(const Recipe&)> layerwise;
  std::function<bool(const Recipe&)> output_fisher;

  bool supports(ModelKind k) const;
  // From its hooks: per block with a block hook, on the whole model with graph hooks, else per weight.
  MethodRun run() const;
  const MethodOption* option(const std::string& name) const;  // nullptr when it has none by that name
  std::string qdq_refusal_for(const Recipe& recipe) const;    // qdq_refusal, or the grids rule
  nlohmann::json to_json() const;                             // the --list-methods --json entry
};

}  // namespace pare::quant
