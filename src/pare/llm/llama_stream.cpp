#include "pare/llm/llama_stream.h"

#include <fmt/format.h>

#include "pare/error.h"
#include "pare/exec/executor.h"
#include "pare/ir/graph.h"

namespace pare::llm {

WeightSource graph_weight_source(const ir::Graph& g) {
  return [&g](const std::string& name) -> at::Tensor {
    auto it = g.initializers.find(name);
    if (it == g.initializers.end()) return {};
    return stored_transposed(name) ? it->second.t() : it->second;
  };
}

namespace {

at::Tensor fetch(const LlamaModel& m, const std::string& name, const std::vector<int64_t>& shape) {
  return llama_weight(m.weights, m.config, name, shape, m.source);
}

// x / sqrt(mean(x^2) + eps) * w, as the graph's RMSNorm computes it.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps) {
  return x * at::reciprocal(at::sqrt((x * x).mean(-1, true) + static_cast<float>(eps))) * w;
}

}  // namespace

at::Tensor stream_hidden(const LlamaModel& m, const at::Tensor& ids, const StreamOptions& o) {
  const LlamaConfig& c = m.config;
  if (ids.dim() != 2 || ids.scalar_type() != at::kLong)
    throw Error("token windows must be int64 [N, T]").got(ir::shape_string(ids.sizes()));
  const int64_t N = ids.size(0), T = ids.size(1);
  if (T > c.max_position_embeddings)
    throw Error(fmt::format("context {} exceeds the model's max_position_embeddings {}", T, c.max_position_embeddings))
        .file(m.source)
        .hint("use a smaller --ctx");
  if (N == 0) return at::empty({0, T, c.hidden_size}, at::kFloat);
  const int64_t lo = ids.min().item<int64_t>(), hi = ids.max().item<int64_t>();
  if (lo < 0 || hi >= c.vocab_size)
    throw Error("a token id is outside the model's vocabulary")
        .file(m.source)
        .expected(fmt::format("ids 0 to {}", c.vocab_size - 1))
        .got(fmt::format("ids {} to {}", lo, hi))
        .hint("the tokenizer does not belong to this model");
  at::NoGradGuard no_grad;
  const int64_t sb = std::max<int64_t>(1, o.sub_batch);
  at::Tensor hidden;
  {
    at::Tensor embed = fetch(m, "model.embed_tokens.weight", {c.vocab_size, c.hidden_size});
    hidden = embed.index_select(0, ids.reshape({-1})).reshape({N, T, c.hidden_size});
  }
  if (m.release) m.release("model.embed_tokens.weight");
  auto [cos, sin] = rope_tables(c, T);
  at::Tensor mask = causal_mask(T);
  for (int64_t layer = 0; layer < c.num_layers; ++layer) {
    // The block's graph holds its float32 weights; it dies at the end of the iteration.
    ir::Graph block = llama_block_graph(c, layer, m.weights, m.rounding);
    exec::Executor ex(block);
    for (int64_t s = 0; s < N; s += sb) {
      const int64_t n = std::min(sb, N - s);
      at::Tensor out =
          ex.run({{"hidden", hidden.narrow(0, s, n)}, {"cos", cos}, {"sin", sin}, {"mask", mask}}, {"hidden_out"})
              .at("hidden_out");
      hidden.narrow(0, s, n).copy_(out);
    }
    if (m.release)
      for (const auto& t : llama_tensors(c))
        if (t.layer == layer) m.release(t.name);
    if (o.progress) o.progress(layer + 1, c.num_layers);
  }
  return hidden;
}

at::Tensor LlamaHead::logits(const at::Tensor& hidden) const {
  at::NoGradGuard no_grad;
  return at::matmul(round_activation(rms_norm(hidden, norm, rms_norm_eps), rounding), head);
}

LlamaHead llama_head(const LlamaModel& m) {
  const LlamaConfig& c = m.config;
  LlamaHead h;
  h.norm = fetch(m, "model.norm.weight", {c.hidden_size});
  at::Tensor head = c.tie_word_embeddings ? fetch(m, "model.embed_tokens.weight", {c.vocab_size, c.hidden_size})
                                          : fetch(m, "lm_head.weight", {c.vocab_size, c.hidden_size});
  h.head = head.t().contiguous();
  h.rms_norm_eps = c.rms_norm_eps;
  if (m.rounding) h.rounding = m.rounding(c.tie_word_embeddings ? "model.embed_tokens.weight" : "lm_head.weight");
  return h;
}

LlamaHead llama_head(const at::Tensor& norm_weight, const at::Tensor& head_weight, double rms_norm_eps) {
  PARE_ASSERT(norm_weight.dim() == 1 && head_weight.dim() == 2 && head_weight.size(1) == norm_weight.size(0),
              "llama_head: norm [d] and head [vocab, d]");
  LlamaHead h;
  h.norm = norm_weight.to(at::kFloat);
  h.head = head_weight.to(at::kFloat).t().contiguous();
  h.rms_norm_eps = rms_norm_eps;
  return h;
}

void stream_logits(const LlamaModel& m, const at::Tensor& ids, const StreamOptions& o,
                   const std::function<void(int64_t, const at::Tensor&)>& consume) {
  const int64_t total = m.config.num_layers + 1;
  StreamOptions inner = o;
  inner.progress = nullptr;
  if (o.progress) inner.progress = [&](int64_t done, int64_t) { o.progress(done, total); };
  at::Tensor hidden = stream_hidden(m, ids, inner);
  const int64_t N = hidden.size(0);
  if (N == 0) return;
  const LlamaHead head = llama_head(m);
  const int64_t sb = std::max<int64_t>(1, o.sub_batch);
  for (int64_t s = 0; s < N; s += sb) {
    const int64_t n = std::min(sb, N - s);
    consume(s, head.logits(hidden.narrow(0, s, n)));
  }
  if (o.progress) o.progress(total, total);
}

}  // namespace pare::llm
