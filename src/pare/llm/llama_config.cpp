#include "pare/llm/llama_config.h"

#include <fmt/format.h>

#include "pare/error.h"
#include "pare/io/json_file.h"

namespace pare::llm {
namespace {

Error config_error(const std::string& source, const std::string& field, const std::string& what) {
  return Error(fmt::format("config field '{}': {}", field, what)).file(source);
}

int64_t get_int(const nlohmann::json& j, const std::string& source, const std::string& key, bool required,
                int64_t fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required)
      throw config_error(source, key, "missing").hint("a Llama config.json (LlamaForCausalLM) must give it");
    return fallback;
  }
  if (!it->is_number_integer())
    throw config_error(source, key, "not an integer").expected("an integer").got(it->dump());
  return it->get<int64_t>();
}

double get_double(const nlohmann::json& j, const std::string& source, const std::string& key, double fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_number()) throw config_error(source, key, "not a number").expected("a number").got(it->dump());
  return it->get<double>();
}

}  // namespace

void LlamaConfig::validate(const std::string& source) const {
  auto positive = [&](const char* field, int64_t v) {
    if (v <= 0) throw config_error(source, field, "must be positive").got(std::to_string(v));
  };
  positive("vocab_size", vocab_size);
  positive("hidden_size", hidden_size);
  positive("intermediate_size", intermediate_size);
  positive("num_hidden_layers", num_layers);
  positive("num_attention_heads", num_heads);
  positive("num_key_value_heads", num_kv_heads);
  positive("head_dim", head_dim);
  positive("max_position_embeddings", max_position_embeddings);
  if (num_heads % num_kv_heads != 0)
    throw config_error(source, "num_key_value_heads", "must divide num_attention_heads")
        .expected(fmt::format("a divisor of {}", num_heads))
        .got(std::to_string(num_kv_heads));
  if (head_dim % 2 != 0)
    throw config_error(source, "head_dim", "must be even (rotary embeddings rotate pairs)")
        .got(std::to_string(head_dim));
  if (!(rms_norm_eps > 0)) throw config_error(source, "rms_norm_eps", "must be positive");
  if (!(rope_theta > 0)) throw config_error(source, "rope_theta", "must be positive");
}

LlamaConfig LlamaConfig::from_json(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) throw Error("config is not a JSON object").file(source);
  if (auto a = j.find("architectures"); a != j.end() && a->is_array() && !a->empty()) {
    const std::string arch = (*a)[0].is_string() ? (*a)[0].get<std::string>() : a->dump();
    if (arch != "LlamaForCausalLM")
      throw config_error(source, "architectures", "not a Llama model")
          .expected("LlamaForCausalLM")
          .got(arch)
          .hint("pare reads Llama-architecture models (Llama, TinyLlama, Mistral-style without sliding window)");
  }
  if (auto act = j.find("hidden_act"); act != j.end() && !(act->is_string() && act->get<std::string>() == "silu"))
    throw config_error(source, "hidden_act", "unsupported activation").expected("\"silu\"").got(act->dump());
  if (auto rs = j.find("rope_scaling"); rs != j.end() && !rs->is_null())
    throw config_error(source, "rope_scaling", "rope scaling is not supported")
        .got(rs->dump())
        .hint(
            "pare implements plain rotary embeddings with rope_theta; remove rope_scaling only if the model "
            "was trained without it");
  for (const char* bias : {"attention_bias", "mlp_bias"})
    if (auto b = j.find(bias); b != j.end() && b->is_boolean() && b->get<bool>())
      throw config_error(source, bias, "projection biases are not supported").got("true");

  LlamaConfig c;
  c.vocab_size = get_int(j, source, "vocab_size", true, 0);
  c.hidden_size = get_int(j, source, "hidden_size", true, 0);
  c.intermediate_size = get_int(j, source, "intermediate_size", true, 0);
  c.num_layers = get_int(j, source, "num_hidden_layers", true, 0);
  c.num_heads = get_int(j, source, "num_attention_heads", true, 0);
  c.num_kv_heads = get_int(j, source, "num_key_value_heads", false, c.num_heads);
  if (c.num_heads > 0 && c.hidden_size % c.num_heads != 0 && !j.contains("head_dim"))
    throw config_error(source, "num_attention_heads", "must divide hidden_size")
        .expected(fmt::format("a divisor of {}", c.hidden_size))
        .got(std::to_string(c.num_heads));
  c.head_dim = get_int(j, source, "head_dim", false, c.num_heads > 0 ? c.hidden_size / c.num_heads : 0);
  c.max_position_embeddings = get_int(j, source, "max_position_embeddings", false, 2048);
  c.rms_norm_eps = get_double(j, source, "rms_norm_eps", 1e-6);
  c.rope_theta = get_double(j, source, "rope_theta", 10000.0);
  if (auto t = j.find("tie_word_embeddings"); t != j.end() && !t->is_null()) {
    if (!t->is_boolean()) throw config_error(source, "tie_word_embeddings", "not a boolean").got(t->dump());
    c.tie_word_embeddings = t->get<bool>();
  }
  c.bos_token_id = get_int(j, source, "bos_token_id", false, 1);
  c.eos_token_id = get_int(j, source, "eos_token_id", false, 2);
  if (auto d = j.find("torch_dtype"); d != j.end() && d->is_string()) c.torch_dtype = d->get<std::string>();
  c.validate(source);
  return c;
}

LlamaConfig LlamaConfig::load(const std::string& path) {
  return from_json(io::read_json_file(path, "config", "a Hugging Face model folder holds config.json"), path);
}

nlohmann::json LlamaConfig::to_json() const {
  return {{"architectures", {"LlamaForCausalLM"}},
          {"model_type", "llama"},
          {"vocab_size", vocab_size},
          {"hidden_size", hidden_size},
          {"intermediate_size", intermediate_size},
          {"num_hidden_layers", num_layers},
          {"num_attention_heads", num_heads},
          {"num_key_value_heads", num_kv_heads},
          {"head_dim", head_dim},
          {"max_position_embeddings", max_position_embeddings},
          {"rms_norm_eps", rms_norm_eps},
          {"rope_theta", rope_theta},
          {"rope_scaling", nullptr},
          {"hidden_act", "silu"},
          {"attention_bias", false},
          {"mlp_bias", false},
          {"tie_word_embeddings", tie_word_embeddings},
          {"bos_token_id", bos_token_id},
          {"eos_token_id", eos_token_id},
          {"torch_dtype", torch_dtype}};
}

std::vector<LlamaTensor> llama_tensors(const LlamaConfig& c) {
  const int64_t d = c.hidden_size, q = c.num_heads * c.head_dim, kv = c.kv_dim(), f = c.intermediate_size;
  std::vector<LlamaTensor> t{{"model.embed_tokens.weight", {c.vocab_size, d}, -1}};
  for (int64_t i = 0; i < c.num_layers; ++i) {
    const std::string p = fmt::format("model.layers.{}.", i);
    t.push_back({p + "input_layernorm.weight", {d}, i});
    t.push_back({p + "self_attn.q_proj.weight", {q, d}, i});
    t.push_back({p + "self_attn.k_proj.weight", {kv, d}, i});
    t.push_back({p + "self_attn.v_proj.weight", {kv, d}, i});
    t.push_back({p + "self_attn.o_proj.weight", {d, q}, i});
    t.push_back({p + "post_attention_layernorm.weight", {d}, i});
    t.push_back({p + "mlp.gate_proj.weight", {f, d}, i});
    t.push_back({p + "mlp.up_proj.weight", {f, d}, i});
    t.push_back({p + "mlp.down_proj.weight", {d, f}, i});
  }
  t.push_back({"model.norm.weight", {d}, -1});
  if (!c.tie_word_embeddings) t.push_back({"lm_head.weight", {c.vocab_size, d}, -1});
  return t;
}

int64_t LlamaConfig::parameter_count() const {
  int64_t n = 0;
  for (const auto& t : llama_tensors(*this)) {
    int64_t e = 1;
    for (int64_t s : t.shape) e *= s;
    n += e;
  }
  return n;
}

std::vector<std::string> LlamaConfig::preset_names() { return {"tinyllama-1.1b", "brown-llama", "test"}; }

LlamaConfig LlamaConfig::preset(const std::string& name) {
  LlamaConfig c;
  if (name == "tinyllama-1.1b") {
    // TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T config.json (Zhang et al. 2024).
    c.vocab_size = 32000, c.hidden_size = 2048, c.intermediate_size = 5632, c.num_layers = 22;
    c.num_heads = 32, c.num_kv_heads = 4, c.max_position_embeddings = 2048, c.rms_norm_eps = 1e-5;
  } else if (name == "brown-llama") {
    // Every linear dimension a multiple of 256 so that llama.cpp's k-quants apply to every tensor.
    c.vocab_size = 4096, c.hidden_size = 256, c.intermediate_size = 768, c.num_layers = 8;
    c.num_heads = 4, c.num_kv_heads = 4, c.max_position_embeddings = 512, c.rms_norm_eps = 1e-5;
  } else if (name == "test") {
    // Grouped-query attention (2 query heads per key/value head) in a model of a few hundred kB. 512 pieces:
    // a byte-fallback tokenizer (3 special + 256 byte pieces + characters and merges) fits, so it scores text.
    c.vocab_size = 512, c.hidden_size = 64, c.intermediate_size = 128, c.num_layers = 2;
    c.num_heads = 4, c.num_kv_heads = 2, c.max_position_embeddings = 128, c.rms_norm_eps = 1e-5;
  } else {
    std::string names;
    for (const auto& n : preset_names()) names += (names.empty() ? "" : ", ") + n;
    throw Error(fmt::format("unknown Llama config preset '{}'", name))
        .expected(names)
        .hint("or give a Hugging Face config.json file");
  }
  c.head_dim = c.hidden_size / c.num_heads;
  c.validate("preset " + name);
  return c;
}

}  // namespace pare::llm
