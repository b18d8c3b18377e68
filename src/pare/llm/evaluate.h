// llm::evaluate: perplexity of a Llama on a text and, against a reference, the KL divergence of its next-token
// distributions and their top-1 agreement: the whole of `pare ppl`, for library users too. The reference is a
// live model (run layer by layer first) or a stored one (kl_divergence.h: hidden states + head from an earlier
// `--save-ref`); a run can also store its reference for later. Everything that can fail on bad input (models,
// tokenizers, vocabularies, text, a stored reference's protocol) fails before the long part.
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "pare/llm/kl_divergence.h"
#include "pare/llm/model_size.h"
#include "pare/llm/perplexity.h"

namespace pare::llm {

struct EvaluateOptions {
  std::string model;                    // Hugging Face folder, .gguf or .pare
  std::string text;                     // a text spec or file (llm/model_tokenizer.h text_argument), or ...
  std::string tokens;                   // ... token ids (.npy, 1-D integers)
  std::string tokenizer;                // SentencePiece tokenizer.model; empty: the model's own
  std::optional<int64_t> ctx;           // tokens per window; unset: a stored reference's, else 512 or the
                                        // models' max_position_embeddings if smaller
  std::optional<std::string> protocol;  // "windows" | "llamacpp"; unset: a stored reference's, else windows
  std::string ref;                      // reference model, or a stored reference file; empty: perplexity only
  std::string save_ref;                 // store the reference (REF, or the model itself without one) here
  std::string json;                     // where the caller will write the result: checked with save_ref, early
  bool llamacpp_numerics = false;       // GGUF models: llama.cpp's activation rounding (gguf_llama.h)
  int64_t sub_batch = 8;
  // (steps done, steps in all, what runs): the reference's layers (live), the model's, its head.
  std::function<void(int64_t, int64_t, const std::string&)> progress;
};

struct EvaluateResult {
  PplResult ppl;
  std::optional<KldResult> kld;
  std::string model_format, ref_format;  // ref_format "stored" for a stored reference
  ModelSize size;
  std::optional<ModelSize> ref_size;
  nlohmann::json stored_ref;                    // a stored reference's metadata
  std::vector<std::string> config_differences;  // "hidden_size 256 vs 512" between reference and model
  std::string vocabulary_check;                 // how the vocabularies were found to agree
  int64_t text_tokens = 0;
  std::string tokenizer;            // "(tokenizer FILE, 1.320 tokens/word)" or "(token ids from FILE)"
  nlohmann::json saved;             // the stored reference written by save_ref: path, bytes, ...
  std::vector<std::string> inputs;  // every file the run read (a model folder's files too): no output may replace one
  // The result JSON of `pare ppl --json` (the model, text and options are the caller's to add).
  nlohmann::json to_json(const EvaluateOptions& o) const;
};

EvaluateResult evaluate(const EvaluateOptions& options);

}  // namespace pare::llm
