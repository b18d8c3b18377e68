// The inputs of a block's planned layers, as rows of the weight's matrix view: what every method that learns
// from a layer's inputs reads (GPTQ's Hessians, imatrix importance, AWQ's activation scales). A Linear or
// MatMul layer's rows are its input vectors; an ungrouped 2-D convolution's are its im2col patches, in the
// order of the weight's reduction axis (input channel, then kernel rows and columns). Other layers (grouped
// or depthwise convolutions, Gemm with transA) have no rows here, with the reason.
#pragma once
#include <ATen/ATen.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "pare/ir/graph.h"
#include "pare/quant/layer_result.h"
#include "pare/quant/quantizable.h"

namespace pare::blocks {
class BlockVisit;
}

namespace pare::quant {

// How one layer's input rows are read: the value it reads and, for a convolution, its unfolding. Empty `value`
// (and `why_not` set) when the layer has no rows here.
struct LayerInput {
  std::string node;  // the layer's node in the block's graph
  std::string value, why_not;
  const ir::Node* conv = nullptr;
  std::string key() const { return conv ? conv->name : value; }  // layers with one key read the same rows
};

LayerInput layer_input(const ir::Graph& g, const QuantizableLayer& l);

// A batch of the value a layer reads, as [rows, R] float rows in the reduction order of `weight` (the layer's
// weight as the graph holds it).
at::Tensor layer_rows(const at::Tensor& x, const LayerInput& in, const at::Tensor& weight);

// The planned (quantized) layers of a block, with their inputs.
struct BlockInputs {
  const ir::Graph* graph = nullptr;
  std::map<std::string, LayerInput> by_weight;              // every planned layer of the block, by weight name
  std::map<std::string, std::string> first;                 // input key -> one weight that reads it
  const LayerInput* find(const std::string& weight) const;  // nullptr outside the block

  // Runs every batch of the quantized-prefix path through the block as it is now and hands each distinct
  // input's rows to `fn(key, rows)`: a shared input (q, k, v) once.
  void scan(blocks::BlockVisit& v, const std::function<void(const std::string& key, const at::Tensor& rows)>& fn) const;
};

BlockInputs block_inputs(const ir::Graph& g, const std::vector<QuantizedLayer>& layers);

}  // namespace pare::quant
