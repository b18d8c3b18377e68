// Any Llama model pare reads, as a LlamaModel whose weights stay where they are (memory-mapped) until a
// layer needs them: a Hugging Face folder (config.json + safetensors, sharded or not), a GGUF file, or a
// .pare package of a quantized Llama. Every tensor's presence and shape is checked against the config at
// load time, so a broken model fails before any long computation.
#pragma once
#include <ATen/ATen.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "pare/llm/llama_stream.h"

namespace pare::llm {

LlamaModel load_llama(const std::string& path);

// Checks that `shape_of(name)` matches every tensor the config needs; throws Error naming the tensor and
// `source` otherwise. `shape_of` returns an empty vector for an absent tensor.
void check_llama_shapes(const LlamaConfig& c, const std::string& source,
                        const std::function<std::vector<int64_t>(const std::string&)>& shape_of);

// Writes a Hugging Face folder: config.json and model.safetensors with the weights as `dtype` (F16, BF16
// or F32), and `tokenizer_model` (tokenizer.model's bytes) when given. `weights` in Hugging Face names and
// layout. Each file is written atomically; folders the call created are removed again if a write fails.
void save_llama_folder(const std::string& dir, const LlamaConfig& c,
                       const std::vector<std::pair<std::string, at::Tensor>>& weights, at::ScalarType dtype,
                       const std::optional<std::string>& tokenizer_model = std::nullopt);

}  // namespace pare::llm
