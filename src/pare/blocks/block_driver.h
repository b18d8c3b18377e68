// The block driver: runs data through a model block by block (block_source.h) and hands each block to a
// callback with its inputs on two paths, the float model's (float prefix) and the one where every block before
// it is already quantized (quantized prefix), and with the float block's outputs. Every method that needs
// activations (activation calibration, GPTQ, reconstruction, importance, QAT) and every streamed LLM pass
// (perplexity, KL divergence, quantization) goes through it, for ONNX graphs and Llamas alike.
//
// Per block k, in order:
//   1. the block is built (a streamed source reads its weights now; with no stream and no callback asking
//      for it, it is never built);
//   2. `observe` may ask to see values inside the block (BlockVisit::watch) during the float run;
//   3. float stream: the block runs on each batch's float inputs; its outputs become block k+1's inputs;
//   4. `visit` sees the block, its inputs and the float outputs, and may change the block's weights;
//   5. quantized stream: the block, as `visit` left it, runs on each batch's quantized-prefix inputs;
//   6. the block is released.
// Memory: one block's weights plus the values crossing one block boundary for every batch.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "pare/blocks/block_source.h"
#include "pare/exec/executor.h"

namespace pare::blocks {

enum class Streams {
  None,              // visit blocks without running data (weights-only work)
  Float,             // the float model's activations
  FloatAndQuantized  // and the quantized prefix's, for methods that correct for earlier errors
};

class BlockVisit;
struct DriveOptions;
struct DriveResult;

class BlockVisit {
 public:
  BlockVisit(const BlockSource& source, int64_t index, int64_t batches);

  int64_t index() const { return index_; }
  const std::string& name() const { return name_; }
  const BlockSource& source() const { return source_; }
  // The block, built on first use; a callback may change its initializers (e.g. quantize its weights).
  Block& block();
  bool built() const { return built_; }

  int64_t batches() const { return batches_; }
  const Values& float_inputs(int64_t batch) const { return float_in_.at(static_cast<size_t>(batch)); }
  const Values& quantized_inputs(int64_t batch) const { return quant_in_.at(static_cast<size_t>(batch)); }
  const Values& float_outputs(int64_t batch) const { return float_out_.at(static_cast<size_t>(batch)); }

  // observe only: `hook` sees each of `values` (names inside the block) as the float run computes them.
  void watch(const std::vector<std::string>& values, exec::ValueHook hook);
  // Runs the block as it is now on `inputs` (a batch's values) and returns its outputs. A callback may change
  // the values of the block's initializers, not the graph's structure.
  Values run(const Values& inputs);
  // run, also returning the values named in `names` (inside the block) next to the outputs: what a method
  // needs to see the inputs of each layer on either path (GPTQ's Hessians).
  Values capture(const Values& inputs, const std::vector<std::string>& names);
  // From now on (the quantized stream included), input `input_index` of node `node` reads fn(value): how a
  // method puts its activation quantizers into the quantized path without changing the block's graph.
  void override_input(const std::string& node, int input_index, exec::WeightOverride fn);

 private:
  friend DriveResult drive(const BlockSource& source, DriveOptions options);
  const BlockSource& source_;
  int64_t index_;
  std::string name_;
  int64_t batches_;
  Block block_;
  bool built_ = false;
  std::vector<Values> float_in_, quant_in_, float_out_;
  std::vector<std::pair<std::vector<std::string>, exec::ValueHook>> watches_;
  std::unique_ptr<exec::Executor> executor_;
};

struct DriveOptions {
  Streams streams = Streams::None;
  // Model inputs, one map per batch (the source's feed turns each into block 0's values). Empty with None.
  std::vector<Values> batches;
  std::function<void(BlockVisit&)> observe;
  std::function<void(BlockVisit&)> visit;
  // Blocks to pass over entirely (not built, not visited): resuming weights-only work. Streams::None only.
  std::function<bool(int64_t block)> skip;
  // After each block: (blocks done, blocks in all).
  std::function<void(int64_t, int64_t)> progress;
  // After each batch of a block's float run: (block, batch).
  std::function<void(int64_t, int64_t)> on_batch;
  // When set, the last block's float outputs are handed here batch by batch as they are computed, instead
  // of being kept for `visit` and the result: a consumer that reduces them (perplexity) holds one batch.
  std::function<void(int64_t batch, Values&& outputs)> collect;
};

struct DriveResult {
  std::vector<Values> float_outputs;      // the last block's outputs per batch (float stream; empty with collect)
  std::vector<Values> quantized_outputs;  // the same on the quantized path (FloatAndQuantized)
};

DriveResult drive(const BlockSource& source, DriveOptions options);

}  // namespace pare::blocks
