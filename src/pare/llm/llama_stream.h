// Runs a Llama model layer by layer: each decoder block is built (its weights fetched and converted to
// float32) only while it runs, over every window of the input, then freed. Peak memory is one block's
// weights plus the hidden states of the windows and one sub-batch's attention, not the whole model:
// this is how perplexity and quantization handle models larger than RAM from memory-mapped weights.
#pragma once
#include <ATen/ATen.h>

#include <functional>
#include <optional>
#include <string>

#include "pare/formats/quantized_weight.h"
#include "pare/llm/llama_config.h"
#include "pare/llm/llama_graph.h"

namespace pare::ir {
struct Graph;
}

namespace pare::llm {

// A model ready to run: its config and where its weights come from (a memory-mapped file, a graph).
struct LlamaModel {
  LlamaConfig config;
  WeightSource weights;
  std::string source;  // file or folder, for messages
  std::string format;  // "safetensors", "gguf", "pare", "graph"
  // Optional: lets go of a weight's memory once a layer is done with it (memory-mapped pages).
  std::function<void(const std::string& hf_name)> release;
  // Optional: activation rounding before each projection and the head (llama_graph.h); none by default.
  ActivationRounding rounding;
  // Optional: a weight's quantized form when the model stores one (a .pare package), so that exporters keep
  // its codes instead of rounding the dequantized values again; nullopt for a weight stored in float.
  std::function<std::optional<formats::QuantizedWeight>(const std::string& hf_name)> quantized;
};

// The weights of a graph built by llama_graph (e.g. trained or fake-quantized), as a WeightSource.
WeightSource graph_weight_source(const ir::Graph& g);

struct StreamOptions {
  int64_t sub_batch = 8;  // windows per executor run (bounds the attention scores' memory)
  // Called after each layer (and, in stream_logits, once for the head) with (steps done, steps total).
  std::function<void(int64_t, int64_t)> progress;
};

// `o` with its progress reported as (done, total) of a longer job whose first steps are the blocks: what a
// consumer that adds steps after stream_hidden (the head, a comparison) hands to it.
StreamOptions progress_over(const StreamOptions& o, int64_t total);

// Runs `ids` [N, T] (int64) through the embedding and every decoder block, one block at a time over all
// windows, and returns the hidden states after the last block, before the final norm: [N, T, d] float32.
// `progress` sees (layer + 1, num_layers) after each block.
at::Tensor stream_hidden(const LlamaModel& m, const at::Tensor& ids, const StreamOptions& options);

// The final RMSNorm and the output head of a model, as float32, fetched once: logits(hidden) turns hidden
// states [n, T, d] from stream_hidden into logits [n, T, vocab], a sub-batch at a time.
struct LlamaHead {
  at::Tensor norm;  // [d]
  at::Tensor head;  // [d, vocab], the layout the graph's MatMul reads
  double rms_norm_eps = 1e-6;
  std::string rounding;  // of the normalized hidden states before the head's product (llama_graph.h)

  at::Tensor logits(const at::Tensor& hidden) const;
  int64_t vocab_size() const { return head.size(1); }
  int64_t hidden_size() const { return head.size(0); }
};
// The model's `model.norm.weight` and its head (`lm_head.weight`, or the embeddings when tied).
LlamaHead llama_head(const LlamaModel& m);
// From tensors in Hugging Face layout: norm [d], head [vocab, d] (any float dtype).
LlamaHead llama_head(const at::Tensor& norm_weight, const at::Tensor& head_weight, double rms_norm_eps);

// stream_hidden, then the head over each sub-batch of windows: calls `consume(first, logits)` with logits
// [n, T, vocab] float32 of windows first..first+n-1, so that the full [N, T, vocab] tensor never exists.
// `progress` sees (layer + 1, num_layers + 1) after each block and (num_layers + 1, num_layers + 1) at the end.
void stream_logits(const LlamaModel& m, const at::Tensor& ids, const StreamOptions& options,
                   const std::function<void(int64_t first, const at::Tensor& logits)>& consume);

}  // namespace pare::llm
