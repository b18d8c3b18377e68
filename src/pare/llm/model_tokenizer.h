// The tokenizer that goes with a model: `--tokenizer FILE` when given, else the model folder's
// tokenizer.model, else (a GGUF file) the vocabulary stored in the file. Every LLM command finds its
// tokenizer and its text this way, so that they all tokenize a text the same way.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "pare/llm/token_stream.h"
#include "pare/llm/tokenizer.h"

namespace pare::llm {

// Error naming the model and what to give when no tokenizer can be found, or naming the tokenizer when its
// size is not the model's `vocab_size` (it belongs to another model).
Tokenizer model_tokenizer(const std::string& model, const std::string& tokenizer_path, int64_t vocab_size);

// The bytes of a Hugging Face folder's tokenizer.model (to store in a package), if `model` is a folder with one.
std::optional<std::string> folder_tokenizer_bytes(const std::string& model);

// A text named on the command line: a spec (text:FILE, brown:heldout, ...) or a plain file path.
data::TextSpec text_argument(const std::string& arg);

}  // namespace pare::llm
