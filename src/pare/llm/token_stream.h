// A text as one stream of token ids, the input of perplexity and LLM training: the text a spec names
// (data/text_spec.h: text:FILE, brown:heldout, ...) encoded as a single string by a tokenizer, so that it
// matches llama.cpp's perplexity tool, which also tokenizes the whole file at once. No BOS is added; a
// newline is a token of its own (Llama: <0x0A>), and a word after a newline has no dummy-prefix space.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "pare/data/text_spec.h"
#include "pare/llm/tokenizer.h"

namespace pare::llm {

struct TokenStream {
  std::string name;          // the spec as written, e.g. "brown:heldout"
  std::vector<int32_t> ids;  // tokenizer.encode(text)
  int64_t words = 0;         // whitespace-separated words of the text (data::count_words)
  int64_t bytes = 0;         // of the text

  double tokens_per_word() const { return words ? static_cast<double>(ids.size()) / words : 0.0; }
};

TokenStream load_token_stream(const data::TextSpec& spec, const Tokenizer& tokenizer,
                              const data::TextPaths& paths = {});

}  // namespace pare::llm
