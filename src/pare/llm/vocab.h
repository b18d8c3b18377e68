// A tokenizer vocabulary as SentencePiece models and GGUF files store it: pieces with scores and types,
// the special ids, and the two normalizer flags an SPM-BPE encoder needs. Plain data; no encoding here.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pare::llm {

// SentencePiece's ModelProto.SentencePiece.Type numbering, which GGUF's tokenizer.ggml.token_type reuses.
// Stored values: never renumber.
enum class PieceType : int32_t { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };

std::string piece_type_name(PieceType t);  // "normal", "unknown", "control", "user_defined", "unused", "byte"

struct Piece {
  std::string text;  // UTF-8, spaces written as U+2581; byte pieces are "<0x0A>" etc.
  float score = 0;   // SPM-BPE merges the pair whose concatenation has the highest score
  PieceType type = PieceType::Normal;
};

struct Vocab {
  std::vector<Piece> pieces;                   // id = index
  int32_t unk_id = 0, bos_id = 1, eos_id = 2;  // -1 where the vocabulary has none (Llama: 0, 1, 2)
  bool add_dummy_prefix = true;                // a space is put in front of the text before encoding
  bool remove_extra_whitespaces = false;       // strip and collapse runs of spaces first (Llama: false)

  int32_t size() const { return static_cast<int32_t>(pieces.size()); }
};

// The byte of a byte piece "<0xNN>" (two upper- or lower-case hex digits), or nullopt for any other text.
std::optional<uint8_t> byte_piece_value(const std::string& text);
// "<0xNN>" with upper-case hex, as SentencePiece names byte pieces.
std::string byte_piece_text(uint8_t byte);

}  // namespace pare::llm
