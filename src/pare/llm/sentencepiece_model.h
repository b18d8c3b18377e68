// Reads a SentencePiece model file (tokenizer.model: a serialized ModelProto of sentencepiece_model.proto)
// into a Vocab without the SentencePiece library, so that pare sees every piece type (the library's API
// cannot tell user-defined pieces from normal ones) and the normalizer flags. Field numbers used:
//   ModelProto      1 pieces {1 piece, 2 score (float), 3 type}, 2 trainer_spec, 3 normalizer_spec
//   TrainerSpec     3 model_type (1 unigram, 2 bpe, 3 word, 4 char), 35 byte_fallback, 40 unk_id, 41 bos_id,
//                   42 eos_id
//   NormalizerSpec  1 name, 2 precompiled_charsmap, 3 add_dummy_prefix, 4 remove_extra_whitespaces,
//                   5 escape_whitespaces
// Absent fields take the proto defaults (unigram, unk 0, bos 1, eos 2, every normalizer flag true).
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "pare/llm/vocab.h"

namespace pare::llm {

struct SentencePieceModel {
  Vocab vocab;
  std::string model_type = "unigram";  // "unigram", "bpe", "word" or "char"
  std::string normalizer;              // NormalizerSpec.name: "identity" (Llama), "nmt_nfkc", ...
  bool has_charsmap = false;           // text is normalized by a precompiled map before encoding
  bool escape_whitespaces = true;      // spaces become U+2581
  bool byte_fallback = false;
};

// What the model's normalizer does to a text before encoding, one phrase per step: its precompiled character
// map (rule `normalizer`: NFKC and the like) and remove_extra_whitespaces. Empty for Llama's tokenizer
// (identity, spaces kept). llama.cpp's SentencePiece tokenizer applies neither step, so a GGUF export of a
// model whose tokenizer has any encodes some texts into other tokens (docs/llm.md).
std::vector<std::string> normalization_steps(const SentencePieceModel& m);

// Error naming `where` (a file) with a hint when `bytes` is not a valid model.
SentencePieceModel parse_sentencepiece_model(std::string_view bytes, const std::string& where);
SentencePieceModel read_sentencepiece_model(const std::string& path);

}  // namespace pare::llm
