#include "pare/llm/calibration_text.h"

#include <fmt/format.h>

#include <algorithm>

#include "pare/error.h"
#include "pare/llm/model_tokenizer.h"

namespace pare::llm {

namespace {

// "brown:train:65536" -> ("brown:train", 65536); no trailing count -> (spec, 0).
std::pair<std::string, int64_t> split_count(const std::string& spec) {
  const size_t colon = spec.find_last_of(':');
  if (colon == std::string::npos || colon + 1 == spec.size()) return {spec, 0};
  const std::string tail = spec.substr(colon + 1);
  if (!std::all_of(tail.begin(), tail.end(), [](char c) { return c >= '0' && c <= '9'; }) || tail.size() > 12)
    return {spec, 0};
  return {spec.substr(0, colon), std::stoll(tail)};
}

}  // namespace

std::vector<blocks::Values> calibration_windows(const Tokenizer& tok, const std::string& spec, int64_t ctx,
                                                int64_t bos_id, int64_t batch) {
  const auto [text, count] = split_count(spec);
  std::vector<int32_t> ids = load_token_stream(text_argument(text), tok).ids;
  if (count > 0 && static_cast<int64_t>(ids.size()) > count) ids.resize(static_cast<size_t>(count));
  const int64_t per_window = ctx - 1, windows = static_cast<int64_t>(ids.size()) / per_window;
  if (windows == 0)
    throw Error("the calibration text is shorter than one window")
        .expected(fmt::format("at least {} tokens", per_window))
        .got(fmt::format("{} tokens of {}", ids.size(), spec))
        .hint("use a longer text, or leave the token count out");
  at::Tensor all = at::empty({windows, ctx}, at::kLong);
  all.select(1, 0).fill_(bos_id);
  const at::Tensor body = at::tensor(std::vector<int64_t>(ids.begin(), ids.begin() + windows * per_window));
  all.narrow(1, 1, per_window).copy_(body.reshape({windows, per_window}));
  std::vector<blocks::Values> out;
  for (int64_t s = 0; s < windows; s += std::max<int64_t>(1, batch))
    out.push_back({{"input_ids", all.narrow(0, s, std::min(batch, windows - s))}});
  return out;
}

}  // namespace pare::llm
