// Trains a Llama-style SentencePiece tokenizer: BPE with byte fallback (so any byte string encodes), ids
// unk 0, bos 1, eos 2 and no pad, the 256 byte pieces next, identity normalization, a dummy-prefix space,
// spaces kept as written, digits split one by one, every character of the training text kept
// (character_coverage 1.0). These are the options of Llama's own tokenizer.model, except the coverage.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace pare::llm {

struct TokenizerTrainOptions {
  int32_t vocab_size = 4096;  // pieces in all, including the 3 special and 256 byte pieces
  uint32_t seed = 1;          // SentencePiece's random generator; BPE on every sentence draws nothing from it
  int32_t threads = 1;
  // SentencePiece's normalization rule: "identity" (Llama's; what llama.cpp does too) or one of nmt_nfkc, nfkc,
  // nmt_nfkc_cf, nfkc_cf. Any other rule makes a tokenizer that llama.cpp does not reproduce (docs/llm.md).
  std::string normalization = "identity";
  bool remove_extra_whitespaces = false;  // strip and collapse runs of spaces (Llama: false)
};

// The normalization rules SentencePiece knows, for option checks.
const std::vector<std::string>& tokenizer_normalizations();

// Error for options SentencePiece would refuse (too few pieces, an unknown normalization): callers check
// before they load a text.
void check_tokenizer_train_options(const TokenizerTrainOptions& options);

// The options string given to sentencepiece::SentencePieceTrainer::Train, for reports and READMEs.
std::string tokenizer_train_args(const TokenizerTrainOptions& options);

// Trains on `text` (each non-empty line is one training sentence) and returns the tokenizer.model bytes. Error
// naming `where` (the file it is meant for) when SentencePiece refuses (e.g. a vocabulary larger than the text
// allows).
std::string train_tokenizer_model(const std::string& text, const TokenizerTrainOptions& options,
                                  const std::string& where);

// The same, written to `out_path` (temp file + rename).
void train_tokenizer(const std::string& text, const TokenizerTrainOptions& options, const std::string& out_path);

}  // namespace pare::llm
