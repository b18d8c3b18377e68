// A Llama as a chain of blocks for the block driver (blocks/block_source.h): the embedding lookup, each decoder
// layer, and optionally the final norm with the head. Weights stay where the model keeps them (memory-mapped)
// until a block is built, and are released after it. The hidden state between blocks is the value
// hidden_value(k): block k reads hidden_value(k - 1) and writes hidden_value(k) (the embeddings write
// hidden_value(0)); every block may read the side values "cos", "sin" and "mask" of the feed.
#pragma once
#include <string>
#include <vector>

#include "pare/blocks/block_source.h"
#include "pare/llm/llama_stream.h"

namespace pare::llm {

class LlamaBlocks : public blocks::BlockSource {
 public:
  // `m` must outlive the source. Without the head, the last block's output is the final hidden state
  // (before the final norm).
  LlamaBlocks(const LlamaModel& m, bool with_head);

  int64_t size() const override { return m_.config.num_layers + 1 + (with_head_ ? 1 : 0); }
  std::string name(int64_t k) const override;
  std::vector<std::string> weights(int64_t k) const override;
  at::Tensor weight(const std::string& name) const override;
  blocks::Block build(int64_t k) const override;
  void release(int64_t k) const override;
  // `value` in Hugging Face layout; the block's graph holds projections transposed (llama_graph.h).
  void set_weight(blocks::Block& b, const std::string& name, const at::Tensor& value) const override;
  // {"input_ids": [n, T] int64} -> the ids with the rotary tables and the causal mask for T.
  blocks::Values feed(const blocks::Values& model_inputs) const override;
  bool per_sample(const std::string& name) const override;  // not the rotary tables nor the mask

  // The value holding the hidden state after block k (the embeddings are block 0).
  static std::string hidden_value(int64_t k);

 private:
  const LlamaModel& m_;
  bool with_head_;
  std::vector<std::vector<std::string>> units_;  // weights per block, in file order
};

// Checks token windows [N, T] int64 against the model (rank, context length, vocabulary) before any work.
void check_token_windows(const LlamaModel& m, const at::Tensor& ids);

}  // namespace pare::llm
