// Text features on integer token ids: TfIdfVectorizer (n-gram counts with skips, TF / IDF / TFIDF).
// String pools need string tensors, which libtorch lacks; token ids cover exported NLP front ends.
#include <map>

#include "pare/ops/op_table.h"

namespace pare::ops {
namespace {

Tensors tfidf_vectorizer(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  if (x.dim() != 1 && x.dim() != 2) ctx.fail("input must be [C] or [N, C] token ids");
  if (ctx.has_attr("pool_strings")) ctx.fail("string pools are not supported", "map tokens to ids (pool_int64s)");
  const int64_t min_n = ctx.attr_int("min_gram_length"), max_n = ctx.attr_int("max_gram_length");
  const int64_t max_skip = ctx.attr_int("max_skip_count");
  const std::string mode = ctx.attr_string("mode", "TF");
  const std::vector<int64_t> counts = ctx.attr_ints("ngram_counts"), indexes = ctx.attr_ints("ngram_indexes");
  const std::vector<int64_t> pool = ctx.attr_ints("pool_int64s");
  std::vector<double> weights = ctx.attr_floats("weights", {});
  if (mode != "TF" && mode != "IDF" && mode != "TFIDF") ctx.fail("unknown mode '" + mode + "'");
  // Pool n-gram (as a token vector) -> output column.
  std::map<std::vector<int64_t>, int64_t> column;
  std::map<std::vector<int64_t>, size_t> pool_pos;
  size_t k = 0;
  for (size_t level = 0; level < counts.size(); ++level) {
    const int64_t n = static_cast<int64_t>(level) + 1;
    const int64_t end = level + 1 < counts.size() ? counts[level + 1] : static_cast<int64_t>(pool.size());
    for (int64_t s = counts[level]; s + n <= end; s += n, ++k) {
      if (k >= indexes.size()) ctx.fail("ngram_indexes is shorter than the pool");
      std::vector<int64_t> gram(pool.begin() + s, pool.begin() + s + n);
      column[gram] = indexes[k];
      pool_pos[gram] = k;
    }
  }
  int64_t width = 0;
  for (int64_t c : indexes) width = std::max(width, c + 1);
  const at::Tensor ids = x.to(at::kLong).reshape({x.dim() == 1 ? 1 : x.size(0), -1}).contiguous();
  auto a = ids.accessor<int64_t, 2>();
  std::vector<double> out(ids.size(0) * width, 0.0);
  for (int64_t r = 0; r < ids.size(0); ++r) {
    const int64_t len = ids.size(1);
    for (int64_t n = std::max<int64_t>(min_n, 1); n <= max_n; ++n)
      for (int64_t skip = 0; skip <= (n == 1 ? 0 : max_skip); ++skip)  // unigrams are counted once
        for (int64_t i = 0; i + (n - 1) * (skip + 1) < len; ++i) {
          std::vector<int64_t> gram(n);
          for (int64_t j = 0; j < n; ++j) gram[j] = a[r][i + j * (skip + 1)];
          auto it = column.find(gram);
          if (it != column.end()) out[r * width + it->second] += 1;
        }
  }
  at::Tensor y = at::tensor(out, at::kDouble).reshape({ids.size(0), width});
  if (mode != "TF") {
    std::vector<double> w(width, 1.0);
    for (const auto& [gram, col] : column)
      if (pool_pos[gram] < weights.size()) w[col] = weights[pool_pos[gram]];
    at::Tensor wt = at::tensor(w, at::kDouble);
    y = mode == "IDF" ? (y > 0).to(at::kDouble) * wt : y * wt;
  }
  y = y.to(at::kFloat);
  return {x.dim() == 1 ? y.reshape({width}) : y};
}

}  // namespace

void register_text_ops(OpTable& t) { t.add({"TfIdfVectorizer", 9, tfidf_vectorizer}); }

}  // namespace pare::ops
