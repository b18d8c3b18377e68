// The tokenizer of a Llama-style model, from either source an LLM comes with:
//   Tokenizer::load(tokenizer.model)   a SentencePiece model (Hugging Face Llama folders); encodes with the
//                                      SentencePiece library (llm/sentencepiece_library.h), so every model
//                                      type and normalizer works
//   Tokenizer::from_vocab(vocab)       pieces, scores and types alone (GGUF); encodes with pare's SPM-BPE
//                                      (spm_bpe.h), which equals SentencePiece for Llama-style BPE models
// Both give the vocabulary with every piece's type. encode() adds no BOS/EOS: callers decide.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pare/llm/vocab.h"

namespace pare::llm {

class Tokenizer {
 public:
  // Error naming the file with a hint when it is missing or not a SentencePiece model.
  static Tokenizer load(const std::string& path);
  // The bytes of a tokenizer.model (e.g. stored in a .pare package); `source` names it in messages.
  static Tokenizer from_model_bytes(const std::string& bytes, const std::string& source);
  // Error when the vocabulary is inconsistent (duplicate pieces, bad byte pieces, ids out of range).
  static Tokenizer from_vocab(Vocab vocab, std::string source = "vocabulary");

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  std::vector<int32_t> encode(std::string_view text) const;
  // Error for an id outside 0 .. size() - 1.
  std::string decode(const std::vector<int32_t>& ids) const;

  const Vocab& vocab() const;
  int32_t size() const { return vocab().size(); }
  int32_t bos_id() const { return vocab().bos_id; }
  int32_t eos_id() const { return vocab().eos_id; }
  int32_t unk_id() const { return vocab().unk_id; }
  const std::string& source() const;  // the model file, or what from_vocab was given
  bool uses_sentencepiece() const;    // true for load(), false for from_vocab()

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pare::llm
