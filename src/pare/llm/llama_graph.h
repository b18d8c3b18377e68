// A Llama-architecture causal language model as an ir::Graph, so that every IR pass (quantize, prune,
// importance) and the executor (inference, training) apply to LLMs unchanged. The computation follows
// Hugging Face's LlamaForCausalLM: RMSNorm (x / sqrt(mean(x^2) + eps) * w), rotary embeddings with the
// rotate-half convention and rope_theta, grouped-query attention, SwiGLU MLP, tied or untied head.
//
// Initializers keep the Hugging Face names ("model.layers.3.mlp.up_proj.weight"); the projection
// weights are stored transposed ([in, out]) because MatMul reads them that way, so the exported ONNX
// needs no Transpose and per-output-channel quantization works on axis 1 as for any MatMul.
#pragma once
#include <ATen/ATen.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "pare/ir/graph.h"
#include "pare/llm/llama_config.h"

namespace pare::llm {

// A weight by its Hugging Face name, in Hugging Face layout ([out, in] for projections), any float dtype.
using WeightSource = std::function<at::Tensor(const std::string& hf_name)>;

// Optional rounding of the activation a projection reads, by the projection's weight name: "" (none, float32
// as everywhere else in pare), "f16" (rounded to float16) or "q8_0" (blocks of 32 along the reduction axis
// rounded to int8 with a float16 scale, ggml's quantize_row_q8_0). This is what llama.cpp's CPU backend does
// to the activations before a matrix product with F16 weights, and with Q8_0 or Q4_0 weights (their dot
// product runs on Q8_0 activations); llm/gguf_llama.h sets it from a GGUF file's tensor types so that pare can
// reproduce llama.cpp's numbers (pare ppl --llamacpp-numerics).
using ActivationRounding = std::function<std::string(const std::string& hf_weight_name)>;
// The rounding itself, on the last axis of x (its size a multiple of 32 for "q8_0").
at::Tensor round_activation(const at::Tensor& x, const std::string& format);

// Seeded random weights: projections and embeddings normal(0, 0.02) (HF's initializer_range), norms 1.
WeightSource random_weights(const LlamaConfig& c, uint64_t seed);

// input "input_ids" int64 [N, T] -> output "logits" float [N, T, vocab]; positions 0..T-1, causal mask.
// T may be anything up to max_position_embeddings (the rotary tables are that long).
ir::Graph llama_graph(const LlamaConfig& c, const WeightSource& weights);

// Decoder block `layer` alone, for layer-by-layer (streaming) work: inputs `input` [N, T, d],
// "cos" and "sin" [T, head_dim], "mask" [T, T] (0 or -inf) -> output `output` [N, T, d].
ir::Graph llama_block_graph(const LlamaConfig& c, int64_t layer, const WeightSource& weights,
                            const ActivationRounding& rounding = {}, const std::string& input = "hidden",
                            const std::string& output = "hidden_out");
// The embedding lookup alone: "input_ids" int64 [N, T] -> `output` [N, T, d].
ir::Graph llama_embedding_graph(const LlamaConfig& c, const WeightSource& weights, const std::string& output);
// The final RMSNorm and the head alone: `input` [N, T, d] -> "logits" [N, T, vocab].
ir::Graph llama_head_graph(const LlamaConfig& c, const WeightSource& weights, const ActivationRounding& rounding,
                           const std::string& input);

// Rotary tables for positions 0..T-1: cos and sin, each [T, head_dim] float (HF's cat(freqs, freqs)).
std::pair<at::Tensor, at::Tensor> rope_tables(const LlamaConfig& c, int64_t T);
// Additive causal mask [T, T]: 0 on and below the diagonal, -inf above.
at::Tensor causal_mask(int64_t T);

// Weight `name` from `w` as float32 in Hugging Face layout; Error naming the tensor (and `source`, a file or
// folder, when given) when it is missing or its shape is not `shape`.
at::Tensor llama_weight(const WeightSource& w, const LlamaConfig& c, const std::string& name,
                        const std::vector<int64_t>& shape, const std::string& source = "");

// Whether the graph stores this Hugging Face tensor transposed (the projections and the head).
bool stored_transposed(const std::string& hf_name);
// The model's weights back in Hugging Face names and layout (e.g. after training), in config order.
std::vector<std::pair<std::string, at::Tensor>> llama_weights(const ir::Graph& g, const LlamaConfig& c);

}  // namespace pare::llm
