// SentencePiece training fed from memory (the lines of a string), the model written by pare's atomic writer
// rather than by the library.
#include "pare/llm/tokenizer_train.h"

#include "pare/error.h"
#include "pare/io/atomic_file.h"
#include "pare/llm/sentencepiece_library.h"

namespace pare::llm {

std::string tokenizer_train_args(const TokenizerTrainOptions& o) {
  return "--model_type=bpe --vocab_size=" + std::to_string(o.vocab_size) +
         " --byte_fallback=true --character_coverage=1.0 --normalization_rule_name=identity"
         " --add_dummy_prefix=true --remove_extra_whitespaces=false --split_digits=true"
         " --allow_whitespace_only_pieces=true --unk_id=0 --bos_id=1 --eos_id=2 --pad_id=-1"
         " --max_sentence_length=16384 --input_sentence_size=0 --shuffle_input_sentence=false --num_threads=" +
         std::to_string(o.threads) + " --minloglevel=2";
}

void train_tokenizer(const std::string& text, const TokenizerTrainOptions& o, const std::string& out_path) {
  if (o.vocab_size < 260)
    throw Error("tokenizer vocabulary too small")
        .expected("at least 260 pieces (3 special + 256 bytes + 1)")
        .got(std::to_string(o.vocab_size));
  std::string model;
  try {
    model = SentencePiece::train(tokenizer_train_args(o), text, o.seed);
  } catch (Error& e) {
    e.file(out_path);
    if (e.hint_text().empty()) e.hint("a vocabulary larger than the text supports fails; try a smaller --vocab-size");
    throw;
  }
  io::write_atomic(out_path,
                   [&](std::ostream& f) { f.write(model.data(), static_cast<std::streamsize>(model.size())); });
}

}  // namespace pare::llm
