// A Llama model's size, two ways, so that files of different tools compare at equal size: bits per weight
// of the block projections alone (q k v o gate up down: what weight quantization methods quantize; codes,
// scales, zero points and codebooks included), and of the whole model (every file byte, embeddings, head,
// norms and metadata included, over every parameter). Read from the file's index, not its weights.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "pare/llm/llama_config.h"

namespace pare::llm {

struct ModelSize {
  int64_t params = 0;         // every weight of the config
  int64_t linear_params = 0;  // the block projections
  double linear_bits = 0;     // their storage
  int64_t file_bytes = 0;     // the model file, or a folder's safetensors files

  double linear_bits_per_weight() const { return linear_params ? linear_bits / static_cast<double>(linear_params) : 0; }
  double file_bits_per_weight() const { return params ? 8.0 * static_cast<double>(file_bytes) / params : 0; }
  nlohmann::json to_json() const;
  std::string str() const;  // "4.500 bits/weight (block projections), 5.03 bits/weight (whole file, 5.60 MB)"
};

// `path`: a Hugging Face folder, a GGUF file or a .pare Llama package whose config is `c`.
ModelSize model_size(const std::string& path, const LlamaConfig& c);

}  // namespace pare::llm
