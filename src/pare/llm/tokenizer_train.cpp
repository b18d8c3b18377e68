// SentencePiece training fed from memory (the lines of a string), the model written by pare's atomic writer
// rather than by the library.
#include "pare/llm/tokenizer_train.h"

#include <algorithm>

#include "pare/error.h"
#include "pare/io/atomic_file.h"
#include "pare/llm/sentencepiece_library.h"

namespace pare::llm {

std::string tokenizer_train_args(const TokenizerTrainOptions& o) {
  return "--model_type=bpe --vocab_size=" + std::to_string(o.vocab_size) +
         " --byte_fallback=true --character_coverage=1.0 --normalization_rule_name=" + o.normalization +
         " --add_dummy_prefix=true --remove_extra_whitespaces=" + (o.remove_extra_whitespaces ? "true" : "false") +
         " --split_digits=true"
         " --allow_whitespace_only_pieces=true --unk_id=0 --bos_id=1 --eos_id=2 --pad_id=-1"
         " --max_sentence_length=16384 --input_sentence_size=0 --shuffle_input_sentence=false --num_threads=" +
         std::to_string(o.threads) + " --minloglevel=2";
}

const std::vector<std::string>& tokenizer_normalizations() {
  static const std::vector<std::string> names{"identity", "nmt_nfkc", "nfkc", "nmt_nfkc_cf", "nfkc_cf"};
  return names;
}

void check_tokenizer_train_options(const TokenizerTrainOptions& o) {
  if (o.vocab_size < 260)
    throw Error("tokenizer vocabulary too small")
        .expected("at least 260 pieces (3 special + 256 bytes + 1)")
        .got(std::to_string(o.vocab_size));
  const auto& rules = tokenizer_normalizations();
  if (std::find(rules.begin(), rules.end(), o.normalization) == rules.end())
    throw Error("unknown SentencePiece normalization '" + o.normalization + "'")
        .expected("identity, nmt_nfkc, nfkc, nmt_nfkc_cf or nfkc_cf");
}

std::string train_tokenizer_model(const std::string& text, const TokenizerTrainOptions& o, const std::string& where) {
  check_tokenizer_train_options(o);
  try {
    return SentencePiece::train(tokenizer_train_args(o), text, o.seed);
  } catch (Error& e) {
    e.file(where);
    if (e.hint_text().empty()) e.hint("a vocabulary larger than the text supports fails; try a smaller --vocab-size");
    throw;
  }
}

void train_tokenizer(const std::string& text, const TokenizerTrainOptions& o, const std::string& out_path) {
  const std::string model = train_tokenizer_model(text, o, out_path);
  io::write_atomic(out_path,
                   [&](std::ostream& f) { f.write(model.data(), static_cast<std::streamsize>(model.size())); });
}

}  // namespace pare::llm
