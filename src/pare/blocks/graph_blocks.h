// An ONNX graph as a chain of blocks (block_source.h), found by analysis of its node order: a cut between two
// nodes is where few values cross, i.e. the values produced before it and read after it ("live" values;
// initializers and values computed from initializers alone do not count, every block recomputes those).
//
//   Whole    one block: the graph itself
//   Blocks   cuts where the fewest values cross (one, the residual stream, for ResNets, MobileNets and
//            transformers): residual and transformer blocks; consecutive pieces are merged until each holds
//            at least one of the given layer nodes
//   Layers   a cut after each given layer node: one layer (with what follows it up to the next) per block
//
// A block's inputs are the values live at its start (the graph inputs for the first), its outputs those live
// at its end (the graph outputs for the last).
#pragma once
#include <set>
#include <string>
#include <vector>

#include "pare/blocks/block_source.h"

namespace pare::blocks {

enum class Partition { Whole, Blocks, Layers };
Partition parse_partition(const std::string& text);  // "whole", "blocks", "layers"

class GraphBlocks : public BlockSource {
 public:
  // `g` must outlive the source. `layer_nodes`: the nodes whose weights are the model's weights (e.g. the
  // quantizable layers); Blocks and Layers cut around them.
  GraphBlocks(const ir::Graph& g, Partition partition, const std::set<std::string>& layer_nodes);

  int64_t size() const override { return static_cast<int64_t>(spans_.size()); }
  std::string name(int64_t k) const override;
  std::vector<std::string> weights(int64_t k) const override;
  at::Tensor weight(const std::string& name) const override;
  Block build(int64_t k) const override;
  Values feed(const Values& model_inputs) const override;

  // The node range [first, last) of block k in the graph's node order.
  std::pair<size_t, size_t> span(int64_t k) const { return spans_.at(static_cast<size_t>(k)); }

 private:
  const ir::Graph& g_;
  std::vector<std::pair<size_t, size_t>> spans_;
  std::vector<std::vector<std::string>> live_;  // values crossing cut k (before block k); live_[0]: graph inputs
};

}  // namespace pare::blocks
