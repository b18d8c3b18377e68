#include "pare/llm/llama_blocks.h"

#include <fmt/format.h>

#include "pare/error.h"

namespace pare::llm {

LlamaBlocks::LlamaBlocks(const LlamaModel& m, bool with_head) : m_(m), with_head_(with_head) {
  const LlamaConfig& c = m.config;
  units_.resize(static_cast<size_t>(c.num_layers) + 2);
  for (const auto& t : llama_tensors(c)) {
    if (t.layer >= 0)
      units_[static_cast<size_t>(t.layer) + 1].push_back(t.name);
    else if (t.name == "model.embed_tokens.weight")
      units_.front().push_back(t.name);
    else
      units_.back().push_back(t.name);
  }
  if (!with_head) units_.pop_back();
}

std::string LlamaBlocks::name(int64_t k) const {
  if (k == 0) return "embeddings";
  if (k <= m_.config.num_layers) return fmt::format("model.layers.{}", k - 1);
  return "head";
}

std::vector<std::string> LlamaBlocks::weights(int64_t k) const { return units_.at(static_cast<size_t>(k)); }

at::Tensor LlamaBlocks::weight(const std::string& name) const {
  for (const auto& t : llama_tensors(m_.config))
    if (t.name == name) return llama_weight(m_.weights, m_.config, name, t.shape, m_.source);
  throw Error("not a Llama tensor name").tensor(name).file(m_.source);
}

std::string LlamaBlocks::hidden_value(int64_t k) { return fmt::format("hidden.{}", k); }

blocks::Block LlamaBlocks::build(int64_t k) const {
  const LlamaConfig& c = m_.config;
  blocks::Block b;
  b.name = name(k);
  if (k == 0) {
    b.graph = llama_embedding_graph(c, m_.weights, hidden_value(0));
    b.inputs = {"input_ids"};
  } else if (k <= c.num_layers) {
    b.graph = llama_block_graph(c, k - 1, m_.weights, m_.rounding, hidden_value(k - 1), hidden_value(k));
    b.inputs = {hidden_value(k - 1), "cos", "sin", "mask"};
  } else {
    b.graph = llama_head_graph(c, m_.weights, m_.rounding, hidden_value(k - 1));
    b.inputs = {hidden_value(k - 1)};
  }
  for (const auto& out : b.graph.outputs) b.outputs.push_back(out.name);
  return b;
}

void LlamaBlocks::release(int64_t k) const {
  if (m_.release)
    for (const auto& name : weights(k)) m_.release(name);
}

void LlamaBlocks::set_weight(blocks::Block& b, const std::string& name, const at::Tensor& value) const {
  BlockSource::set_weight(b, name, stored_transposed(name) ? value.t().contiguous() : value);
}

blocks::Values LlamaBlocks::feed(const blocks::Values& model_inputs) const {
  auto it = model_inputs.find("input_ids");
  PARE_ASSERT(it != model_inputs.end(), "LlamaBlocks::feed: no input_ids");
  const int64_t T = it->second.size(1);
  auto [cos, sin] = rope_tables(m_.config, T);
  return {{"input_ids", it->second}, {"cos", cos}, {"sin", sin}, {"mask", causal_mask(T)}};
}

bool LlamaBlocks::per_sample(const std::string& name) const { return name != "cos" && name != "sin" && name != "mask"; }

void check_token_windows(const LlamaModel& m, const at::Tensor& ids) {
  const LlamaConfig& c = m.config;
  if (ids.dim() != 2 || ids.scalar_type() != at::kLong)
    throw Error("token windows must be int64 [N, T]").got(ir::shape_string(ids.sizes()));
  const int64_t T = ids.size(1);
  if (T > c.max_position_embeddings)
    throw Error(fmt::format("context {} exceeds the model's max_position_embeddings {}", T, c.max_position_embeddings))
        .file(m.source)
        .hint("use a smaller --ctx");
  if (ids.numel() == 0) return;
  const int64_t lo = ids.min().item<int64_t>(), hi = ids.max().item<int64_t>();
  if (lo < 0 || hi >= c.vocab_size)
    throw Error("a token id is outside the model's vocabulary")
        .file(m.source)
        .expected(fmt::format("ids 0 to {}", c.vocab_size - 1))
        .got(fmt::format("ids {} to {}", lo, hi))
        .hint("the tokenizer does not belong to this model");
}

}  // namespace pare::llm
