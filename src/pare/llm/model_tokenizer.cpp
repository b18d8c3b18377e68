#include "pare/llm/model_tokenizer.h"

#include <filesystem>

#include "pare/error.h"
#include "pare/io/gguf.h"
#include "pare/llm/gguf_llama.h"

namespace pare::llm {
namespace fs = std::filesystem;

Tokenizer model_tokenizer(const std::string& model, const std::string& tokenizer_path) {
  if (!tokenizer_path.empty()) return Tokenizer::load(tokenizer_path);
  if (fs::is_directory(model)) {
    const std::string sp = (fs::path(model) / "tokenizer.model").string();
    if (fs::exists(sp)) return Tokenizer::load(sp);
    throw Error("the model folder has no tokenizer.model")
        .file(model)
        .hint("give --tokenizer FILE (a SentencePiece model), or --tokens FILE.npy of token ids");
  }
  if (io::is_gguf(model)) return Tokenizer::from_vocab(read_gguf_vocab(model), model);
  throw Error("no tokenizer for this model").file(model).hint("give --tokenizer FILE (a SentencePiece model)");
}

data::TextSpec text_argument(const std::string& arg) {
  if (arg.rfind("text:", 0) == 0 || arg.rfind("brown:", 0) == 0) return data::TextSpec::parse(arg);
  data::TextSpec s;
  s.kind = "text";
  s.arg = arg;
  s.text = arg;
  return s;
}

}  // namespace pare::llm
