// The SentencePiece library (training, and encoding for Tokenizer::load), reached through pare's helper
// library libpare_sentencepiece.so (llm/sentencepiece_shim.cpp), which is loaded with RTLD_DEEPBIND. Why:
// Debian's libsentencepiece carries its own protobuf 3.14 and exports its symbols; linked into pare next to
// the system protobuf 3.21 (ONNX, libtorch), one of the two copies would serve the other's calls, and the
// first call aborts with a protobuf version error. Loaded apart, SentencePiece binds to its own copy.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace pare::llm {

class SentencePiece {
 public:
  // A model from its serialized bytes; `where` names it in errors.
  static SentencePiece load(std::string_view model_bytes, const std::string& where);
  // Trains with the options `args` (SentencePieceTrainer's flags) on the non-empty lines of `text` after
  // seeding SentencePiece's random generator; returns the serialized model.
  static std::string train(const std::string& args, const std::string& text, uint32_t seed);

  SentencePiece(SentencePiece&&) noexcept;
  SentencePiece& operator=(SentencePiece&&) noexcept;
  ~SentencePiece();

  std::vector<int32_t> encode(std::string_view text) const;
  std::string decode(const std::vector<int32_t>& ids) const;  // ids must be in range (the library aborts)

  int32_t size = 0, unk_id = -1, bos_id = -1, eos_id = -1;  // as the library reads the model

 private:
  struct Api;
  SentencePiece(std::shared_ptr<const Api> api, void* handle);
  std::shared_ptr<const Api> api_;
  void* handle_ = nullptr;
  std::string where_;
};

}  // namespace pare::llm
