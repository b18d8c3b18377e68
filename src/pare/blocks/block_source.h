// A model seen as a chain of blocks, the unit the block driver (block_driver.h) works in: decoder blocks of a
// Llama, residual or transformer blocks of an ONNX graph (graph_blocks.h), or single layers. A source says
// which model weights each block holds without building it, hands out a weight as the model stores it, and
// builds a block's runnable sub-graph only when asked, so that a streamed model (weights memory-mapped from a
// file) never holds more than the block at hand.
#pragma once
#include <ATen/ATen.h>

#include <map>
#include <string>
#include <vector>

#include "pare/ir/graph.h"

namespace pare::blocks {

// Values by name: what flows between blocks (and what a block reads and writes).
using Values = std::map<std::string, at::Tensor>;

// One block, runnable: its sub-graph with its weights as initializers. It reads `inputs` (values from the
// blocks before it or from the source's feed) and hands on `outputs`: every value a later block or the model's
// output needs, so that after it nothing else has to be kept.
struct Block {
  std::string name;
  ir::Graph graph;
  std::vector<std::string> inputs, outputs;
};

class BlockSource {
 public:
  virtual ~BlockSource() = default;
  virtual int64_t size() const = 0;
  virtual std::string name(int64_t k) const = 0;
  // The model weights block k holds, by name, in model order (cheap: nothing is read).
  virtual std::vector<std::string> weights(int64_t k) const = 0;
  // A weight as the model stores it (layout and name of the model's own format), float32.
  virtual at::Tensor weight(const std::string& name) const = 0;
  // Block k with its weights: a streamed source reads them now.
  virtual Block build(int64_t k) const = 0;
  // Lets go of block k's weights (memory-mapped pages) once the driver is done with it.
  virtual void release(int64_t /*k*/) const {}
  // Puts `value` (laid out as weight(name) returns it) into built block `b` in place of weight `name`, in
  // the layout and dtype the block's graph holds it.
  virtual void set_weight(Block& b, const std::string& name, const at::Tensor& value) const;
  // The values the first block reads, and side values any block may read (a Llama's rotary tables and
  // mask), for one batch of model inputs.
  virtual Values feed(const Values& model_inputs) const = 0;
  // Whether value `name` holds one entry per sample along dimension 0 (a method may then draw sub-batches
  // of it), or is shared by every sample of a batch (a Llama's rotary tables and mask).
  virtual bool per_sample(const std::string& /*name*/) const { return true; }
};

}  // namespace pare::blocks
