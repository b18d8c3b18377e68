// The weight stage of the one quantization pipeline, for ONNX graphs and Llamas alike: the block driver visits
// a model's blocks (blocks/block_driver.h) and each planned weight in a block is quantized by the recipe's
// method into a QuantizedLayer. Only where the blocks come from differs: the graph's partition
// (blocks/graph_blocks.h) or a Llama's memory-mapped units (llm/llama_blocks.h).
#pragma once
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <vector>

#include "pare/blocks/block_source.h"
#include "pare/ir/graph.h"
#include "pare/quant/layer_result.h"
#include "pare/quant/passes/activation_pass.h"
#include "pare/quant/recipe.h"

namespace pare::quant {

struct BlockJob;

// Quantizes weight `w` (float, as the model stores it) of `plan` with the recipe's method; fills the error
// measure and kurtosis. `prepared`: the method's prepare result (null without). Errors name the layer's node.
// `importance`: imatrix scales' input importance (WeightJob::importance).
QuantizedLayer quantize_layer(const at::Tensor& w, const LayerPlan& plan, const Recipe& recipe,
                              const nlohmann::json& prepared = nullptr, const at::Tensor& importance = {});

// The block hook a recipe runs: its method's, or for a weight method whose scale search weighs by input
// importance (weight_scale imatrix) importance_block; empty when the recipe quantizes weight by weight with no
// data. Recipe::learns() says whether there is one.
std::function<void(BlockJob&)> block_hook(const Recipe& recipe);

struct BlockWeightsOptions {
  // The method's prepare result (Method::prepare), when it has one.
  nlohmann::json prepared;
  // Calibration data, model inputs batch by batch (the source's feed): what a method with a block hook
  // learns from, on the float-prefix and quantized-prefix paths. Unused by the others.
  std::vector<blocks::Values> batches;
  // Blocks already done (a resumed run): not visited. Returns true to skip block k. Weights-only methods only:
  // a method that learns needs every block's data path, so it ignores this and visits every block.
  std::function<bool(int64_t)> skip;
  // After each block, with its index, its planned layers (in plan order) and the float weights the method
  // changed (BlockJob::floats: what to store in place of the model's).
  std::function<void(int64_t block, std::vector<QuantizedLayer>&& layers, std::map<std::string, at::Tensor>&& floats)>
      sink;
  std::function<void(int64_t, int64_t)> progress;  // (blocks done, blocks in all)
  // Handed to a block method (BlockJob): the activation quantizers, and the Fisher at block outputs.
  std::vector<ActivationQuant>* activations = nullptr;
  const std::map<std::string, std::vector<at::Tensor>>* output_fisher = nullptr;
};

// Visits the blocks of `source` in order and quantizes, in each, the planned layers whose weight it holds: one
// weight at a time with the method's weight operator, or the whole block at once with its block hook (then
// driven over `batches`). A weight that several plans name (a tied table read by two layers) is quantized
// once per plan. Error when a method that learns gets no batches.
void quantize_blocks(const blocks::BlockSource& source, const std::vector<LayerPlan>& plans, const Recipe& recipe,
                     const BlockWeightsOptions& options);

// The graph form: every planned layer of `g`, in plan order; `progress(done, total)` counts layers. Runs the
// method's prepare hook first. One block (the graph) for weight operators; the graph's residual blocks
// (blocks/graph_blocks.h), or its single layers (Method::layerwise), driven over `batches` ({input name:
// batch}), for a method that learns; with the Fisher at their outputs when the method asks for it.
// `floats` (when given) receives the float initializers the method changed, by name: the caller puts them into
// `g`. `activations`: the calibrated activation quantizers a block method may learn with and refine.
std::vector<QuantizedLayer> quantize_weights(const ir::Graph& g, const std::vector<LayerPlan>& plans,
                                             const std::function<void(size_t, size_t)>& progress = {},
                                             const Recipe& recipe = Recipe{},
                                             const std::vector<blocks::Values>& batches = {},
                                             std::map<std::string, at::Tensor>* floats = nullptr,
                                             std::vector<ActivationQuant>* activations = nullptr);

}  // namespace pare::quant
