// Text spec -> token ids.
#include "pare/llm/token_stream.h"

namespace pare::llm {

TokenStream load_token_stream(const data::TextSpec& spec, const Tokenizer& tokenizer, const data::TextPaths& paths) {
  const std::string text = data::load_text(spec, paths);
  TokenStream s;
  s.name = spec.text;
  s.ids = tokenizer.encode(text);
  s.words = data::count_words(text);
  s.bytes = static_cast<int64_t>(text.size());
  return s;
}

}  // namespace pare::llm
