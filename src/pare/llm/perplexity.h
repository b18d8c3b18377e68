// Perplexity under two named protocols, so that a figure always says how it was measured:
//
//   windows   consecutive non-overlapping windows of `ctx` tokens of the text, no BOS added; in each
//             window every token after the first is scored (predicted from the tokens before it in the
//             window). Tokens after the last full window are not used.
//   llamacpp  llama.cpp's `llama-perplexity`: BOS is added in front of the text's tokens, the result is cut
//             into chunks of `ctx` tokens, the first token of every chunk is replaced by BOS, and only the
//             second half of each chunk is scored: the logits at positions ctx/2 .. ctx-2 predict the
//             tokens at ctx/2 + 1 .. ctx-1 (tools/perplexity/perplexity.cpp, `first = n_ctx/2`).
//
// Perplexity = exp(mean negative log-likelihood over the scored tokens), natural log.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "pare/llm/llama_stream.h"

namespace pare::llm {

enum class PplProtocol { Windows, LlamaCpp };
PplProtocol parse_protocol(const std::string& name);  // "windows" | "llamacpp"; Error otherwise
std::string protocol_name(PplProtocol p);

// The model inputs of a protocol and what each position predicts.
struct PplWindows {
  PplProtocol protocol = PplProtocol::Windows;
  at::Tensor inputs;   // [N, ctx] int64
  at::Tensor targets;  // [N, ctx] int64: the token position j predicts, -1 where not scored
  int64_t scored() const;
};

// `tokens`: the text's tokens without BOS. Throws Error when the text is too short for one window.
PplWindows make_windows(const std::vector<int32_t>& tokens, int64_t ctx, PplProtocol protocol, int64_t bos_id);

struct PplResult {
  PplProtocol protocol = PplProtocol::Windows;
  int64_t ctx = 0, windows = 0, scored = 0;
  double nll = 0;         // mean negative log-likelihood (nats per scored token)
  double nll_stderr = 0;  // its standard error over tokens
  double perplexity = 0;
  double seconds = 0;
  double tokens_per_second = 0;  // tokens run through the model (windows x ctx) per second
  nlohmann::json to_json() const;
};

// --- What every consumer of windows shares (perplexity, KL divergence, stored references) ------------------

// The positions of windows first..first+n-1 that the protocol scores: flat indices into those windows' n*T
// positions, and the tokens they predict.
struct ScoredPositions {
  at::Tensor index;    // int64 [k]
  at::Tensor targets;  // int64 [k]
};
ScoredPositions scored_positions(const PplWindows& w, int64_t first, int64_t n);
// Calls fn(first, n) for each run of up to `sub_batch` windows of `windows`, in order.
void for_each_sub_batch(int64_t windows, int64_t sub_batch, const std::function<void(int64_t, int64_t)>& fn);
// Mean and its standard error (sample variance / n) from running sums over n values.
std::pair<double, double> mean_stderr(double sum, double sum_sq, int64_t n);
// Tokens run through the model (windows x ctx) per second.
double tokens_per_second(const PplWindows& w, double seconds);

PplResult perplexity(const LlamaModel& m, const PplWindows& w, const StreamOptions& options = {});
// The same from hidden states stream_hidden already computed over w.inputs, and the model's head (the
// logits exist `sub_batch` windows at a time). `seconds` does not include computing `hidden`.
PplResult perplexity(const at::Tensor& hidden, const LlamaHead& head, const PplWindows& w, int64_t sub_batch = 8);

}  // namespace pare::llm
