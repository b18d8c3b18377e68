// The shape of a Llama-architecture model, read from (and written to) a Hugging Face `config.json`
// (LlamaForCausalLM). Only what changes the computation is kept; fields pare cannot honour (rope scaling,
// biases on the projections, an activation other than SiLU) are refused rather than ignored.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace pare::llm {

struct LlamaConfig {
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;        // d
  int64_t intermediate_size = 0;  // SwiGLU width
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;  // grouped-query attention: num_heads is a multiple of it
  int64_t head_dim = 0;      // hidden_size / num_heads unless the config says otherwise
  int64_t max_position_embeddings = 2048;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  bool tie_word_embeddings = false;
  int64_t bos_token_id = 1, eos_token_id = 2;
  std::string torch_dtype = "float16";  // how the weights are stored (informational)

  // Throws Error naming `source` and the field when a field is missing, of the wrong type or
  // inconsistent (e.g. heads not dividing the hidden size).
  static LlamaConfig from_json(const nlohmann::json& j, const std::string& source);
  static LlamaConfig load(const std::string& config_json_path);
  nlohmann::json to_json() const;

  // Checks the invariants from_json checks; for configs built in code.
  void validate(const std::string& source) const;

  int64_t kv_dim() const { return num_kv_heads * head_dim; }
  int64_t parameter_count() const;  // every weight, embeddings and head included (tied head counted once)

  // Named shapes for `pare zoo llama --config NAME`: "tinyllama-1.1b" (TinyLlama-1.1B's published
  // config), "brown-llama" (the project's tiny reference model), "test" (a few hundred kB, for tests).
  static LlamaConfig preset(const std::string& name);
  static std::vector<std::string> preset_names();
};

// Hugging Face tensor names of one model (LlamaForCausalLM layout), with their [out, in] shapes.
struct LlamaTensor {
  std::string name;
  std::vector<int64_t> shape;
  int64_t layer = -1;  // -1: embeddings, final norm, head
};
std::vector<LlamaTensor> llama_tensors(const LlamaConfig& c);

}  // namespace pare::llm
