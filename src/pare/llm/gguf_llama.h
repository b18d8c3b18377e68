// A Llama model in GGUF, as llama.cpp reads and writes it: tensor names (blk.N.attn_q.weight, ...), the
// `llama.*` hyper-parameter keys, the tokenizer keys, and the row order of the query and key projections.
// llama.cpp's Llama rotary embedding rotates adjacent pairs (2i, 2i+1) of a head, Hugging Face's rotates
// (i, i + head_dim/2); converters therefore reorder the rows of q_proj and k_proj within each head so that
// both compute the same model. pare applies that reordering on export and undoes it on import.
#pragma once
#include <ATen/ATen.h>

#include <functional>
#include <string>
#include <vector>

#include "pare/formats/ggml_types.h"
#include "pare/llm/llama_stream.h"
#include "pare/llm/vocab.h"

namespace pare::llm {

// "model.layers.3.self_attn.q_proj.weight" -> "blk.3.attn_q.weight"; Error for a name with no GGUF twin.
std::string gguf_tensor_name(const std::string& hf_name);

// Row reorderings of a [heads * head_dim, in] projection between Hugging Face and GGUF order.
at::Tensor hf_to_gguf_rows(const at::Tensor& w, int64_t heads);
at::Tensor gguf_to_hf_rows(const at::Tensor& w, int64_t heads);

// Reads a llama-architecture GGUF file: config from its `llama.*` keys (and the vocabulary size from its
// tokenizer or embedding), weights dequantized to float32 one tensor at a time when a layer asks.
LlamaModel load_llama_gguf(const std::string& path);
// The tokenizer keys of a GGUF file (tokenizer.ggml.tokens, scores, token_type, special ids); Error naming
// the key when they are missing or inconsistent.
Vocab read_gguf_vocab(const std::string& path);

// Makes `m` (loaded from a GGUF file) round its activations as llama.cpp's CPU backend does before each
// matrix product (llama_graph.h ActivationRounding): to Q8_0 blocks where the weight is Q8_0 or Q4_0 (their
// dot products run on Q8_0 activations), to float16 where it is F16; F32 weights see float32. Not
// reproduced: llama.cpp's float16 KV cache and attention products. Error for other formats and for weight
// types whose llama.cpp activation format pare does not know (BF16, k-quants).
void use_llamacpp_numerics(LlamaModel& m);

// What an export did with weights the model stores quantized (LlamaModel::quantized).
struct GgufExport {
  int64_t tensors = 0;
  int64_t kept_codes = 0;            // quantized weights written with their own codes (formats/ggml_blocks.h)
  std::vector<std::string> rounded;  // quantized weights rounded again from their values: "name: why"
};

// Writes `m` as GGUF: every 2-D weight (embeddings and head included) as `type` (F16, Q8_0, Q4_0; like
// `llama-quantize --pure`), norms as F32, the `llama.*` keys and the tokenizer. A weight the model stores
// quantized on a grid that maps exactly onto `type`'s blocks keeps its codes (no second rounding); any other
// is rounded from its dequantized values with ggml's reference quantizer and listed. Atomic. `progress` is
// called with (tensors done, tensors in all) as the file is written.
GgufExport export_llama_gguf(const LlamaModel& m, const Vocab& vocab, formats::GgmlType type, const std::string& path,
                             const std::string& name, const std::vector<std::string>& protected_inputs = {},
                             const std::function<void(int64_t, int64_t)>& progress = {});

}  // namespace pare::llm
