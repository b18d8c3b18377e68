// SentencePiece-BPE encoding from a vocabulary alone (pieces, scores, types: what a GGUF file stores as
// tokenizer.ggml.tokens / scores / token_type; llama.cpp calls it the SPM tokenizer). pare's own code:
//   1. with remove_extra_whitespaces, drop leading and trailing spaces and collapse runs of spaces;
//   2. with add_dummy_prefix, put a space in front; every space (U+0020 only) becomes U+2581;
//   3. split into UTF-8 characters (a byte that begins no valid character stands alone); user-defined
//      pieces are matched first, longest first, and are never merged further;
//   4. repeatedly merge the adjacent pair whose concatenation is a normal, user-defined or unused piece with
//      the highest score, the leftmost such pair on ties;
//   5. a final symbol that is an unused piece is split back into the two symbols it was merged from; a
//      symbol that is no piece becomes the <0xNN> pieces of its bytes (byte fallback), or unk when the
//      vocabulary has no byte pieces.
// There is no Unicode normalization: it equals SentencePiece for models whose normalizer is "identity"
// (Llama's), not for models with a normalization map (nmt_nfkc). One difference on purpose: SentencePiece
// replaces each byte that begins no valid UTF-8 character with U+FFFD; here such a byte stays itself (its
// <0xNN> piece), so that decode(encode(x)) == x for any bytes.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "pare/llm/vocab.h"

namespace pare::llm {

class SpmBpe {
 public:
  // Error for a duplicate piece, an empty piece, a byte piece not spelled <0xNN>, special ids out of range.
  explicit SpmBpe(Vocab vocab);
  SpmBpe(SpmBpe&&) = default;  // the maps view into vocab_'s strings, which a move does not relocate
  SpmBpe(const SpmBpe&) = delete;
  SpmBpe& operator=(const SpmBpe&) = delete;

  // Token ids of `text`, without BOS or EOS. Any byte string is encoded when the vocabulary has byte pieces.
  std::vector<int32_t> encode(std::string_view text) const;
  // Text of `ids`: U+2581 as spaces, byte pieces as their bytes, control pieces as nothing, the unknown
  // piece as " \u2047 " (SentencePiece's default), and the dummy-prefix space of the first piece dropped.
  // Error for an id out of range.
  std::string decode(const std::vector<int32_t>& ids) const;

  const Vocab& vocab() const { return vocab_; }

 private:
  std::string normalize(std::string_view text) const;
  size_t match_user_defined(const std::string& s, size_t i) const;  // length of the longest match, or 0

  Vocab vocab_;
  std::unordered_map<std::string_view, int32_t> mergeable_;     // normal, user-defined and unused pieces
  std::unordered_map<std::string_view, int32_t> user_defined_;  // matched before merging
  std::vector<size_t> user_defined_lengths_;                    // distinct lengths, longest first
  std::array<int32_t, 256> byte_ids_{};                         // -1 where the vocabulary lacks the byte
  bool has_byte_pieces_ = false;
};

}  // namespace pare::llm
