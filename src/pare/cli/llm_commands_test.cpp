// The LLM-side commands as a user runs them (issue 16): a zoo Llama comes with a tokenizer and scores a text,
// `ppl` picks a context the model can run, `export` warns about a tokenizer llama.cpp cannot reproduce and
// names only its own flags, `info --json FILE` writes a file. Each command runs in-process through its CLI.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "pare/cli/command.h"
#include "pare/data/text_spec.h"
#include "pare/error.h"
#include "pare/io/json_file.h"
#include "pare/llm/sentencepiece_model.h"
#include "pare/llm/tokenizer_train.h"

namespace pare::cli {
namespace {
namespace fs = std::filesystem;

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("pare_llm_commands_test_" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

struct Result {
  int rc = -1;
  std::string out, err, error;  // stdout, stderr, and the pare::Error's message when one was thrown
};

// Runs `pare ARGS...` for the command that `add` registers, as main() would (an Error is exit code 2).
Result run(Action (*add)(CLI::App&), std::vector<std::string> args) {
  CLI::App app;
  const Action action = add(app);
  args.insert(args.begin(), "pare");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  app.parse(static_cast<int>(argv.size()), argv.data());
  Result r;
  testing::internal::CaptureStdout();
  testing::internal::CaptureStderr();
  try {
    r.rc = action();
  } catch (const Error& e) {
    r.rc = 2;
    r.error = e.what();
  }
  r.err = testing::internal::GetCapturedStderr();
  r.out = testing::internal::GetCapturedStdout();
  return r;
}

bool has_brown() { return fs::is_directory(data::find_brown_dir()); }

// Seeded words over a few letters, with full-width letters and runs of spaces that a normalizing tokenizer
// changes: enough distinct pairs for a 512-piece BPE, no corpus needed.
std::string synthetic_text(int lines) {
  std::mt19937 rng(7);
  std::string t;
  for (int l = 0; l < lines; ++l) {
    for (int w = 0; w < 12; ++w) {
      const int n = 2 + static_cast<int>(rng() % 6);
      for (int i = 0; i < n; ++i) t += static_cast<char>('a' + rng() % 16);
      t += (w % 5 == 4) ? "  " : " ";
    }
    if (l % 7 == 0) t += "\xef\xbd\x86\xef\xbd\x95\xef\xbd\x8c\xef\xbd\x8c";  // "ｆｕｌｌ" (full-width)
    t += "\n";
  }
  return t;
}

// A 512-piece tokenizer (the `test` preset's vocab_size) trained on the synthetic text.
std::string train_on_synthetic(const TempDir& d, const std::string& name, const std::string& normalization,
                               bool remove_extra_whitespaces) {
  llm::TokenizerTrainOptions o;
  o.vocab_size = 512;
  o.normalization = normalization;
  o.remove_extra_whitespaces = remove_extra_whitespaces;
  llm::train_tokenizer(synthetic_text(3000), o, d / name);
  return d / name;
}

TEST(LlmCommands, ZooLlamaComesWithATokenizerAndScoresText) {
  if (!has_brown()) GTEST_SKIP() << "no Brown corpus: run scripts/setup.sh";
  TempDir d;
  const Result z = run(add_zoo_command, {"zoo", "llama", "--config", "test", "--quiet", "--out", d / "m"});
  ASSERT_EQ(z.rc, 0) << z.error;
  EXPECT_NE(z.out.find("tokenizer.model of 512 pieces"), std::string::npos) << z.out;
  const llm::SentencePieceModel tok = llm::read_sentencepiece_model(d / "m/tokenizer.model");
  EXPECT_EQ(tok.vocab.size(), 512);
  EXPECT_TRUE(tok.byte_fallback);
  EXPECT_TRUE(llm::normalization_steps(tok).empty());
  // The command, and without --ctx: the model's 128 positions, not 512.
  const Result p = run(add_ppl_command, {"ppl", d / "m", "--text", "brown:heldout", "--ctx", "64", "--quiet"});
  ASSERT_EQ(p.rc, 0) << p.error;
  EXPECT_NE(p.out.find("ctx 64"), std::string::npos) << p.out;
  const Result q = run(add_ppl_command, {"ppl", d / "m", "--text", "brown:valid", "--quiet", "--json", d / "j/p.json"});
  ASSERT_EQ(q.rc, 0) << q.error;
  EXPECT_EQ(io::read_json_file(d / "j/p.json", "result").at("ctx"), 128);
}

TEST(LlmCommands, ZooLlamaRefusesATokenizerOfAnotherSize) {
  TempDir d;
  llm::TokenizerTrainOptions o;
  o.vocab_size = 300;
  llm::train_tokenizer(synthetic_text(500), o, d / "t300.model");
  const Result r =
      run(add_zoo_command, {"zoo", "llama", "--config", "test", "--tokenizer", d / "t300.model", "--out", d / "m"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.error.find("does not fit the config"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("300 pieces"), std::string::npos) << r.error;
  EXPECT_FALSE(fs::exists(d / "m"));  // refused before any weight was made
}

TEST(LlmCommands, ExportWarnsAboutATokenizerThatNormalizes) {
  TempDir d;
  const std::string nfkc = train_on_synthetic(d, "nfkc.model", "nmt_nfkc", true);
  ASSERT_EQ(
      run(add_zoo_command, {"zoo", "llama", "--config", "test", "--tokenizer", nfkc, "--quiet", "--out", d / "m"}).rc,
      0);
  const Result e =
      run(add_export_command, {"export", d / "m", "--quiet", "--out", d / "m.gguf", "--json", d / "e.json"});
  ASSERT_EQ(e.rc, 0) << e.error;
  for (const char* needle : {"pare: warning:", "normalizer 'nmt_nfkc'", "NFKC", "remove_extra_whitespaces",
                             "llama.cpp applies no normalizer"})
    EXPECT_NE(e.err.find(needle), std::string::npos) << needle << " in\n" << e.err;
  const nlohmann::json j = io::read_json_file(d / "e.json", "export");
  EXPECT_EQ(j.at("warnings").size(), 1u);
  EXPECT_EQ(j.at("tokenizer_normalization").size(), 2u);
  // What the warning is about: the GGUF's vocabulary alone (as llama.cpp reads it) makes other tokens.
  std::ofstream(d / "t.txt") << "ｆｕｌｌ  abc  def\nghij   kl\n";
  const Result a = run(add_ppl_command, {"ppl", d / "m", "--text", d / "t.txt", "--ctx", "4", "--quiet"});
  const Result b = run(add_ppl_command, {"ppl", d / "m.gguf", "--text", d / "t.txt", "--ctx", "4", "--quiet"});
  ASSERT_EQ(a.rc, 0) << a.error;
  ASSERT_EQ(b.rc, 0) << b.error;
  auto tokens = [](const std::string& out) { return out.substr(out.find("text        "), 24); };
  EXPECT_NE(tokens(a.out), tokens(b.out)) << a.out << b.out;

  // A tokenizer that normalizes nothing (Llama's options) exports without a warning.
  const std::string plain = train_on_synthetic(d, "plain.model", "identity", false);
  const Result p = run(add_export_command, {"export", d / "m", "--tokenizer", plain, "--quiet", "--out", d / "p.gguf"});
  ASSERT_EQ(p.rc, 0) << p.error;
  EXPECT_EQ(p.err.find("warning"), std::string::npos) << p.err;
}

TEST(LlmCommands, ExportChecksItsOutputAndNamesOnlyItsOwnFlags) {
  TempDir d;
  ASSERT_EQ(
      run(add_zoo_command, {"zoo", "llama", "--config", "test", "--no-tokenizer", "--quiet", "--out", d / "m"}).rc, 0);
  const Result onnx = run(add_export_command, {"export", d / "m", "--out", d / "x.onnx"});
  EXPECT_EQ(onnx.rc, 2);
  EXPECT_NE(onnx.error.find("--out does not end in .gguf"), std::string::npos) << onnx.error;
  const Result notok = run(add_export_command, {"export", d / "m", "--out", d / "x.gguf"});
  EXPECT_EQ(notok.rc, 2);
  EXPECT_NE(notok.error.find("--tokenizer FILE"), std::string::npos) << notok.error;
  EXPECT_EQ(notok.error.find("--tokens"), std::string::npos) << notok.error;  // a ppl flag, not export's
  EXPECT_FALSE(fs::exists(d / "x.onnx"));
  EXPECT_FALSE(fs::exists(d / "x.gguf"));
}

TEST(LlmCommands, InfoJsonGoesToAFileOrToStdout) {
  TempDir d;
  ASSERT_EQ(run(add_zoo_command, {"zoo", "resnet8", "--width", "0.25", "--out", d / "r.onnx"}).rc, 0);
  const Result f = run(add_info_command, {"info", d / "r.onnx", "--json", d / "new/info.json"});
  ASSERT_EQ(f.rc, 0) << f.error;
  EXPECT_EQ(f.out, "");
  const nlohmann::json j = io::read_json_file(d / "new/info.json", "info");
  const nlohmann::json& in = j.at("inputs").at(0);
  EXPECT_EQ(in.at("dtype"), "float32");  // as pare run names it
  ASSERT_TRUE(in.at("shape").is_array());
  EXPECT_EQ(in.at("shape").back(), 28);
  for (const auto& form : std::vector<std::vector<std::string>>{
           {"info", d / "r.onnx", "--json"}, {"info", "--json", d / "r.onnx"}, {"info", d / "r.onnx", "--json", "-"}}) {
    const Result s = run(add_info_command, form);
    ASSERT_EQ(s.rc, 0) << s.error;
    EXPECT_EQ(nlohmann::json::parse(s.out), j);
  }
}

}  // namespace
}  // namespace pare::cli
