// How far a model's next-token distributions are from a reference model's, over the positions the
// perplexity scores (targets >= 0 of PplWindows): per position
//
//   KLD = KL(ref || model) = sum_v p_ref(v) (log p_ref(v) - log p_model(v))
//
// from log_softmax of the two float32 logit rows computed in float64 (a Q8_0 model's mean KLD is ~4e-5:
// float32 log-probabilities would put an error of ~1e-6 into every term's log-normalizer), whether the
// top-1 token (argmax) is the same, and the negative log-likelihood of the target under both.
//
// Both models run layer by layer (stream_hidden); only their final hidden states are held (the
// reference's at the scored positions alone), and the logits of both exist one sub-batch of windows at a
// time, at the scored positions. The reference's side (those hidden states, its final norm and head) can
// be stored once in a safetensors file (`pare ppl REF --save-ref FILE`) and loaded in its place: d x 4
// bytes per scored token plus the head, and the KLD from it is the one from the live reference, bit for bit.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "pare/llm/llama_stream.h"
#include "pare/llm/perplexity.h"
#include "pare/llm/vocab.h"

namespace pare::llm {

// The reference side of a comparison: its final hidden states over the windows and its head.
struct KldReference {
  at::Tensor hidden;  // [scored, d] float32 after the last block, before the final norm: the scored
                      // positions (targets >= 0) in window order
  LlamaHead head;
  std::string source;  // the reference model, or the stored file
  int64_t hidden_size = 0, num_layers = 0;
  double seconds = 0;       // to compute (or load) it
  nlohmann::json metadata;  // a stored reference's __metadata__ (null for a live one)
};

// Runs the reference model over the windows (progress: (layer + 1, num_layers)).
KldReference reference_from_model(const LlamaModel& ref, const PplWindows& w, const StreamOptions& options);
// The rows of hidden states [N, T, d] at the scored positions of w: [scored, d], in window order.
at::Tensor scored_rows(const at::Tensor& hidden, const PplWindows& w);

struct KldResult {
  PplProtocol protocol = PplProtocol::Windows;
  int64_t ctx = 0, windows = 0, scored = 0;
  double kld_mean = 0, kld_stderr = 0, kld_median = 0, kld_p99 = 0, kld_max = 0;  // nats
  double top1_same = 0;                                                           // % of positions with the same argmax
  double nll_ref = 0, nll_ref_stderr = 0, nll_model = 0, nll_model_stderr = 0;    // nats/token
  double ppl_ref = 0, ppl_model = 0, ppl_ratio = 0;                               // ratio: ppl_model / ppl_ref
  double ln_ppl_ratio = 0, ln_ppl_ratio_stderr = 0;  // mean of nll_model - nll_ref per token
  double seconds_reference = 0, seconds_model = 0, seconds = 0;
  double tokens_per_second = 0;  // tokens (windows x ctx) per second of the whole comparison
  nlohmann::json to_json() const;
  // The model's side as a plain perplexity result (the fields of `pare ppl` without --ref).
  PplResult model_perplexity() const;
};

// Per-position sums and values, fed one sub-batch at a time.
class KldAccumulator {
 public:
  // ref_logits and model_logits [k, vocab] float32 at k scored positions, targets [k] int64 there.
  void add(const at::Tensor& ref_logits, const at::Tensor& model_logits, const at::Tensor& targets);
  // The statistics (protocol, ctx, windows and times are the caller's to fill in).
  KldResult result() const;
  const std::vector<double>& kld() const { return kld_; }  // per scored position, in order

 private:
  std::vector<double> kld_;
  double nll_ref_ = 0, nll_ref_sq_ = 0, nll_model_ = 0, nll_model_sq_ = 0, diff_ = 0, diff_sq_ = 0;
  int64_t same_ = 0;
};

// Runs the model over the windows and compares it with the reference, sub-batch by sub-batch. Progress:
// (layer + 1, num_layers + 1) after each block, (num_layers + 1, num_layers + 1) at the end. Error when the
// reference's hidden states are not over these windows or its head's vocabulary is not the model's.
KldResult kl_divergence(const KldReference& ref, const LlamaModel& m, const PplWindows& w,
                        const StreamOptions& options = {});

// Reference and candidate must agree on what every token id means: Error naming both when vocab_size or
// the BOS id differ.
void check_same_vocab_size(const LlamaConfig& ref, const std::string& ref_source, const LlamaConfig& model,
                           const std::string& model_source);
// Piece by piece (text and type) and the special ids; Error naming both and the first difference.
void check_same_vocabulary(const Vocab& ref, const std::string& ref_source, const Vocab& model,
                           const std::string& model_source);
// "hidden_size 256 vs 512" for every shape field that differs (empty: the same architecture). Different
// architectures over one vocabulary are a legitimate comparison (e.g. a distilled model).
std::vector<std::string> config_differences(const LlamaConfig& ref, const LlamaConfig& model);

// FNV-1a 64 of the token ids (as little-endian int32), and of a vocabulary (piece texts and types, the
// special ids): the identity of a text and of a tokenizer in a stored reference.
uint64_t token_hash(const std::vector<int32_t>& ids);
uint64_t vocab_hash(const Vocab& v);

// --- Stored references ---------------------------------------------------------------------------------
// One safetensors file: "hidden" [scored, d] F32 (the scored positions only), "model.norm.weight" [d] and
// "lm_head.weight" [vocab, d] as the reference stores them (F32/F16/BF16; float32 when it is quantized), with
// __metadata__:
//   format "pare-ppl-reference", version, text_tokens, text_hash, ctx, protocol, windows, scored,
//   vocab_size, bos_token_id, hidden_size, num_layers, rms_norm_eps, tie_word_embeddings, tokenizer_hash
//   (empty when the text came as token ids), tokenizer, source, source_format.

// What the text and tokenizer of a run are, to write into a stored reference and to check one against.
struct ReferenceText {
  std::vector<int32_t> const* ids = nullptr;  // the text's tokens (before windowing)
  std::optional<uint64_t> tokenizer_hash;     // absent when the text came as token ids
  std::string tokenizer;                      // its file, for messages
};

// Whether `path` is a file that looks like safetensors (then only a stored reference is accepted there).
bool looks_like_stored_reference(const std::string& path);

// Writes the reference's hidden states at the scored positions (scored_rows) and its head atomically;
// refuses to overwrite `protected_inputs`. Returns the file's size in bytes.
uint64_t save_reference(const std::string& path, const LlamaModel& ref, const at::Tensor& scored_hidden,
                        const PplWindows& w, const ReferenceText& text,
                        const std::vector<std::string>& protected_inputs = {});

// Opens a stored reference and checks it against this run before anything long: Error naming the file and
// the field (vocab_size, bos_token_id, tokenizer, ctx, protocol, text) that differs. The hidden states stay
// memory-mapped.
KldReference load_reference(const std::string& path, const LlamaConfig& model, const std::string& model_source,
                            const PplWindows& w, const ReferenceText& text);

}  // namespace pare::llm
