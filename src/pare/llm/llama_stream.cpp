#include "pare/llm/llama_stream.h"

#include <fmt/format.h>

#include "pare/blocks/block_driver.h"
#include "pare/error.h"
#include "pare/ir/graph.h"
#include "pare/llm/llama_blocks.h"
#include "pare/llm/perplexity.h"

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
  check_token_windows(m, ids);
  const int64_t N = ids.size(0), T = ids.size(1), sb = std::max<int64_t>(1, o.sub_batch);
  at::Tensor hidden = at::empty({N, T, c.hidden_size}, at::kFloat);
  if (N == 0) return hidden;
  // The embeddings and every decoder block through the block driver, `sb` windows per run; each block's
  // graph holds its float32 weights only while it runs.
  const LlamaBlocks source(m, /*with_head=*/false);
  blocks::DriveOptions d;
  d.streams = blocks::Streams::Float;
  for (int64_t s = 0; s < N; s += sb) d.batches.push_back({{"input_ids", ids.narrow(0, s, std::min(sb, N - s))}});
  const std::string last = LlamaBlocks::hidden_value(c.num_layers);
  d.collect = [&](int64_t batch, blocks::Values&& out) {
    const at::Tensor& h = out.at(last);
    hidden.narrow(0, batch * sb, h.size(0)).copy_(h);
  };
  // Progress counts decoder blocks: the embedding lookup is block 0 of the source.
  if (o.progress)
    d.progress = [&](int64_t done, int64_t) {
      if (done > 1) o.progress(done - 1, c.num_layers);
    };
  blocks::drive(source, std::move(d));
  return hidden;
}

StreamOptions progress_over(const StreamOptions& o, int64_t total) {
  StreamOptions inner = o;
  inner.progress = nullptr;
  if (o.progress) inner.progress = [p = o.progress, total](int64_t done, int64_t) { p(done, total); };
  return inner;
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
  at::Tensor hidden = stream_hidden(m, ids, progress_over(o, total));
  if (hidden.size(0) == 0) return;
  const LlamaHead head = llama_head(m);
  for_each_sub_batch(hidden.size(0), o.sub_batch,
                     [&](int64_t s, int64_t n) { consume(s, head.logits(hidden.narrow(0, s, n))); });
  if (o.progress) o.progress(total, total);
}

}  // namespace pare::llm
