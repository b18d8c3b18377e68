#include "pare/llm/perplexity.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <tuple>

#include "pare/error.h"

namespace pare::llm {

PplProtocol parse_protocol(const std::string& name) {
  if (name == "windows") return PplProtocol::Windows;
  if (name == "llamacpp") return PplProtocol::LlamaCpp;
  throw Error(fmt::format("unknown perplexity protocol '{}'", name)).expected("windows or llamacpp");
}

std::string protocol_name(PplProtocol p) { return p == PplProtocol::Windows ? "windows" : "llamacpp"; }

int64_t PplWindows::scored() const { return targets.defined() ? (targets >= 0).sum().item<int64_t>() : 0; }

PplWindows make_windows(const std::vector<int32_t>& text, int64_t ctx, PplProtocol protocol, int64_t bos_id) {
  if (ctx < 4) throw Error("--ctx must be at least 4").got(std::to_string(ctx));
  std::vector<int64_t> tokens;
  tokens.reserve(text.size() + 1);
  if (protocol == PplProtocol::LlamaCpp) tokens.push_back(bos_id);
  tokens.insert(tokens.end(), text.begin(), text.end());
  const int64_t L = static_cast<int64_t>(tokens.size());
  // llama.cpp refuses texts shorter than two chunks; one window is enough for the windows protocol.
  const int64_t need = protocol == PplProtocol::LlamaCpp ? 2 * ctx : ctx;
  if (L < need)
    throw Error("the text is too short for the context")
        .expected(fmt::format("at least {} tokens for --ctx {} ({} protocol)", need, ctx, protocol_name(protocol)))
        .got(fmt::format("{} tokens", L))
        .hint("use a longer text or a smaller --ctx");
  const int64_t N = L / ctx;
  at::Tensor all = at::tensor(tokens, at::kLong);
  PplWindows w;
  w.protocol = protocol;
  w.inputs = all.narrow(0, 0, N * ctx).reshape({N, ctx}).clone();
  w.targets = at::full({N, ctx}, -1, at::kLong);
  // Position j predicts token j + 1 of the same window (the window's last position predicts nothing).
  at::Tensor next = w.inputs.narrow(1, 1, ctx - 1);
  if (protocol == PplProtocol::Windows) {
    w.targets.narrow(1, 0, ctx - 1).copy_(next);
  } else {
    const int64_t first = ctx / 2;
    w.targets.narrow(1, first, ctx - 1 - first).copy_(w.inputs.narrow(1, first + 1, ctx - 1 - first));
    w.inputs.select(1, 0).fill_(bos_id);
  }
  return w;
}

ScoredPositions scored_positions(const PplWindows& w, int64_t first, int64_t n) {
  const at::Tensor t = w.targets.narrow(0, first, n).reshape({-1});
  const at::Tensor index = (t >= 0).nonzero().squeeze(1);
  return {index, t.index_select(0, index)};
}

void for_each_sub_batch(int64_t windows, int64_t sub_batch, const std::function<void(int64_t, int64_t)>& fn) {
  const int64_t sb = std::max<int64_t>(1, sub_batch);
  for (int64_t s = 0; s < windows; s += sb) fn(s, std::min(sb, windows - s));
}

std::pair<double, double> mean_stderr(double sum, double sum_sq, int64_t n) {
  if (n == 0) return {0, 0};
  const double mean = sum / n;
  const double var = n > 1 ? std::max(0.0, (sum_sq / n - mean * mean) * n / (n - 1)) : 0;
  return {mean, std::sqrt(var / n)};
}

double tokens_per_second(const PplWindows& w, double seconds) {
  return seconds > 0 ? static_cast<double>(w.inputs.numel()) / seconds : 0;
}

nlohmann::json PplResult::to_json() const {
  return {{"protocol", protocol_name(protocol)},
          {"ctx", ctx},
          {"windows", windows},
          {"scored_tokens", scored},
          {"nll", nll},
          {"nll_stderr", nll_stderr},
          {"perplexity", perplexity},
          {"seconds", seconds},
          {"tokens_per_second", tokens_per_second}};
}

namespace {

struct NllSums {
  double sum = 0, sum_sq = 0;
  int64_t count = 0;

  // logits [n, T, vocab] of windows first..first+n-1.
  void add(const PplWindows& w, int64_t first, const at::Tensor& logits) {
    const ScoredPositions p = scored_positions(w, first, logits.size(0));
    if (p.index.numel() == 0) return;
    at::Tensor lp = at::log_softmax(logits.reshape({-1, logits.size(-1)}).index_select(0, p.index), -1);
    at::Tensor nll = -lp.gather(1, p.targets.unsqueeze(1)).squeeze(1).to(at::kDouble);
    sum += nll.sum().item<double>();
    sum_sq += (nll * nll).sum().item<double>();
    count += nll.numel();
  }

  PplResult result(const PplWindows& w, std::chrono::steady_clock::time_point t0) const {
    PplResult r;
    r.protocol = w.protocol;
    r.ctx = w.inputs.size(1);
    r.windows = w.inputs.size(0);
    r.scored = count;
    std::tie(r.nll, r.nll_stderr) = mean_stderr(sum, sum_sq, count);
    r.perplexity = std::exp(r.nll);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.tokens_per_second = tokens_per_second(w, r.seconds);
    return r;
  }
};

}  // namespace

PplResult perplexity(const LlamaModel& m, const PplWindows& w, const StreamOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  NllSums sums;
  stream_logits(m, w.inputs, options, [&](int64_t first, const at::Tensor& logits) { sums.add(w, first, logits); });
  return sums.result(w, t0);
}

PplResult perplexity(const at::Tensor& hidden, const LlamaHead& head, const PplWindows& w, int64_t sub_batch) {
  const auto t0 = std::chrono::steady_clock::now();
  PARE_ASSERT(hidden.dim() == 3 && hidden.size(0) == w.inputs.size(0) && hidden.size(1) == w.inputs.size(1),
              "perplexity: hidden states are not over these windows");
  NllSums sums;
  for_each_sub_batch(hidden.size(0), sub_batch,
                     [&](int64_t s, int64_t n) { sums.add(w, s, head.logits(hidden.narrow(0, s, n))); });
  return sums.result(w, t0);
}

}  // namespace pare::llm
