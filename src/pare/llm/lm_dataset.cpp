#include "pare/llm/lm_dataset.h"

#include <fmt/format.h>

#include "pare/error.h"

namespace pare::llm {

data::Dataset lm_windows(const std::vector<int32_t>& tokens, int64_t ctx, int64_t vocab_size, const std::string& name) {
  if (ctx < 2) throw Error("the context must be at least 2 tokens").got(std::to_string(ctx));
  const int64_t L = static_cast<int64_t>(tokens.size());
  const int64_t n = L > 0 ? (L - 1) / ctx : 0;
  if (n == 0)
    throw Error(fmt::format("text '{}' is too short for one window", name))
        .expected(fmt::format("at least {} tokens for --ctx {}", ctx + 1, ctx))
        .got(fmt::format("{} tokens", L));
  at::Tensor all = at::from_blob(const_cast<int32_t*>(tokens.data()), {L}, at::kInt).to(at::kLong);
  const int64_t lo = all.min().item<int64_t>(), hi = all.max().item<int64_t>();
  if (lo < 0 || hi >= vocab_size)
    throw Error(fmt::format("a token id of '{}' is outside the model's vocabulary", name))
        .expected(fmt::format("ids 0 to {}", vocab_size - 1))
        .got(fmt::format("ids {} to {}", lo, hi))
        .hint("the tokenizer does not belong to this model");
  data::Dataset d;
  d.name = name;
  d.inputs = all.narrow(0, 0, n * ctx).reshape({n, ctx}).clone();
  d.labels = all.narrow(0, 1, n * ctx).reshape({n, ctx}).clone();
  d.num_classes = vocab_size;
  return d;
}

}  // namespace pare::llm
