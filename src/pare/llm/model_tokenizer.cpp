#include "pare/llm/model_tokenizer.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "pare/error.h"
#include "pare/io/gguf.h"
#include "pare/io/pare_package.h"
#include "pare/llm/gguf_llama.h"
#include "pare/llm/llama_package.h"

namespace pare::llm {
namespace fs = std::filesystem;

namespace {

Tokenizer find_tokenizer(const std::string& model, const std::string& tokenizer_path, const std::string& instead) {
  if (!tokenizer_path.empty()) return Tokenizer::load(tokenizer_path);
  if (fs::is_directory(model)) {
    const std::string sp = (fs::path(model) / "tokenizer.model").string();
    if (fs::exists(sp)) return Tokenizer::load(sp);
    throw Error("the model folder has no tokenizer.model")
        .file(model)
        .hint(instead.empty() ? "copy the model's SentencePiece tokenizer.model into the folder" : instead);
  }
  if (io::is_gguf(model)) return Tokenizer::from_vocab(read_gguf_vocab(model), model);
  if (io::is_package(model)) {
    if (auto bytes = llama_package_tokenizer(model)) return Tokenizer::from_model_bytes(*bytes, model);
    throw Error("the package stores no tokenizer")
        .file(model)
        .hint(instead.empty() ? "quantize the model again from a folder that holds its tokenizer.model" : instead);
  }
  throw Error("no tokenizer for this model")
      .file(model)
      .hint(instead.empty() ? "a Hugging Face folder with tokenizer.model, a GGUF file or a Llama package" : instead);
}

}  // namespace

Tokenizer model_tokenizer(const std::string& model, const std::string& tokenizer_path, int64_t vocab_size,
                          const std::string& instead) {
  Tokenizer tok = find_tokenizer(model, tokenizer_path, instead);
  if (tok.size() != vocab_size)
    throw Error("the tokenizer does not belong to this model")
        .file(tok.source())
        .expected(fmt::format("{} tokens (the model's vocab_size)", vocab_size))
        .got(fmt::format("{} tokens", tok.size()));
  return tok;
}

std::optional<SentencePieceModel> model_sentencepiece(const std::string& model, const std::string& tokenizer_path) {
  if (!tokenizer_path.empty()) return read_sentencepiece_model(tokenizer_path);
  if (auto bytes = folder_tokenizer_bytes(model))
    return parse_sentencepiece_model(*bytes, (fs::path(model) / "tokenizer.model").string());
  if (is_llama_package(model))
    if (auto bytes = llama_package_tokenizer(model)) return parse_sentencepiece_model(*bytes, model);
  return std::nullopt;
}

data::TextSpec text_argument(const std::string& arg) {
  if (arg.rfind("text:", 0) == 0 || arg.rfind("brown:", 0) == 0) return data::TextSpec::parse(arg);
  data::TextSpec s;
  s.kind = "text";
  s.arg = arg;
  s.text = arg;
  return s;
}

std::optional<std::string> folder_tokenizer_bytes(const std::string& model) {
  const std::filesystem::path tok = std::filesystem::path(model) / "tokenizer.model";
  if (!std::filesystem::is_directory(model) || !std::filesystem::exists(tok)) return std::nullopt;
  std::ifstream in(tok, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

}  // namespace pare::llm
