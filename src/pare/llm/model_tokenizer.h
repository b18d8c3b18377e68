// The tokenizer that goes with a model: `--tokenizer FILE` when given, else the model folder's
// tokenizer.model, else (a GGUF file) the vocabulary stored in the file. Every LLM command finds its
// tokenizer and its text this way, so that they all tokenize a text the same way.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "pare/llm/sentencepiece_model.h"
#include "pare/llm/token_stream.h"
#include "pare/llm/tokenizer.h"

namespace pare::llm {

// Error naming the model when no tokenizer can be found, with `instead` as its hint: what the calling command
// offers instead (its own flags, e.g. "give --tokenizer FILE, or --tokens FILE.npy of token ids"; empty: put
// the model's tokenizer.model beside its weights). Error naming the tokenizer when its size is not the model's
// `vocab_size` (it belongs to another model).
Tokenizer model_tokenizer(const std::string& model, const std::string& tokenizer_path, int64_t vocab_size,
                          const std::string& instead = "");

// The SentencePiece model a model's tokenizer comes from (`--tokenizer FILE`, the folder's tokenizer.model, the
// one a .pare package stores), with its normalizer; nullopt for a GGUF vocabulary or a model without one.
std::optional<SentencePieceModel> model_sentencepiece(const std::string& model, const std::string& tokenizer_path);

// The bytes of a Hugging Face folder's tokenizer.model (to store in a package), if `model` is a folder with one.
std::optional<std::string> folder_tokenizer_bytes(const std::string& model);

// A text named on the command line: a spec (text:FILE, brown:heldout, ...) or a plain file path.
data::TextSpec text_argument(const std::string& arg);

}  // namespace pare::llm
