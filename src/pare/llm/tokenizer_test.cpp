// Tokenizers: a small BPE trained here on the Brown valid split, SentencePiece against pare's SPM-BPE on the
// held-out split (identical ids), round trips of any bytes, hand-made vocabularies for each SPM-BPE rule,
// and the errors for missing or corrupt models.
#include "pare/llm/tokenizer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "pare/data/text_corpus.h"
#include "pare/error.h"
#include "pare/llm/sentencepiece_model.h"
#include "pare/llm/spm_bpe.h"
#include "pare/llm/token_stream.h"
#include "pare/llm/tokenizer_train.h"

namespace pare::llm {
namespace {
namespace fs = std::filesystem;

std::string corpus_dir() { return std::string(PARE_SOURCE_DIR) + "/" + data::kBrownDefaultDir; }

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// Where two id sequences first differ, with the pieces around it, or "" when they are equal.
std::string first_difference(const Tokenizer& t, const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  if (i == a.size() && i == b.size()) return "";
  auto around = [&](const std::vector<int32_t>& ids) {
    std::string s;
    for (size_t k = i >= 5 ? i - 5 : 0; k < std::min(ids.size(), i + 5); ++k)
      s += (k == i ? "[" : "") + t.vocab().pieces[ids[k]].text + (k == i ? "] " : " ");
    return s;
  };
  return "first difference at token " + std::to_string(i) + " of " + std::to_string(a.size()) + "/" +
         std::to_string(b.size()) + ":\n  sentencepiece: " + around(a) + "\n  pare spm-bpe:  " + around(b);
}

// A 512-piece model trained once on the valid split (about a second); every test compares on held-out text.
class TokenizerBrown : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::is_directory(corpus_dir())) return;
    dir_ = new fs::path(fs::temp_directory_path() / ("pare_tokenizer_" + std::to_string(::getpid())));
    fs::create_directories(*dir_);
    options_.vocab_size = 512;
    train_tokenizer(data::brown_text(corpus_dir(), data::BrownSplit::Valid), options_, model_path());
    heldout_ = new std::string(data::brown_text(corpus_dir(), data::BrownSplit::Heldout));
  }
  static void TearDownTestSuite() {
    if (dir_) fs::remove_all(*dir_);
    delete dir_;
    delete heldout_;
    dir_ = nullptr;
    heldout_ = nullptr;
  }
  void SetUp() override {
    if (!heldout_) GTEST_SKIP() << "no Brown corpus at " << corpus_dir() << ": run scripts/setup.sh";
  }
  static std::string model_path() { return (*dir_ / "brown512.model").string(); }
  static Tokenizer vocab_only() { return Tokenizer::from_vocab(read_sentencepiece_model(model_path()).vocab); }

  static inline fs::path* dir_ = nullptr;
  static inline std::string* heldout_ = nullptr;
  static inline TokenizerTrainOptions options_;
};

TEST_F(TokenizerBrown, TrainedModelIsLlamaStyle) {
  const Tokenizer t = Tokenizer::load(model_path());
  EXPECT_TRUE(t.uses_sentencepiece());
  ASSERT_EQ(t.size(), 512);
  EXPECT_EQ(t.unk_id(), 0);
  EXPECT_EQ(t.bos_id(), 1);
  EXPECT_EQ(t.eos_id(), 2);
  const auto& p = t.vocab().pieces;
  EXPECT_EQ(p[0].type, PieceType::Unknown);
  EXPECT_EQ(p[1].text, "<s>");
  EXPECT_EQ(p[1].type, PieceType::Control);
  EXPECT_EQ(p[2].text, "</s>");
  for (int b = 0; b < 256; ++b) {
    EXPECT_EQ(p[3 + b].type, PieceType::Byte);
    EXPECT_EQ(p[3 + b].text, byte_piece_text(static_cast<uint8_t>(b)));
  }
  for (size_t i = 259; i < p.size(); ++i) EXPECT_EQ(p[i].type, PieceType::Normal) << i;
  const SentencePieceModel m = read_sentencepiece_model(model_path());
  EXPECT_EQ(m.model_type, "bpe");
  EXPECT_EQ(m.normalizer, "identity");
  EXPECT_TRUE(m.byte_fallback);
  EXPECT_TRUE(m.vocab.add_dummy_prefix);
  EXPECT_FALSE(m.vocab.remove_extra_whitespaces);
}

TEST_F(TokenizerBrown, VocabOnlyEqualsSentencePieceOnHeldout) {
  const Tokenizer sp = Tokenizer::load(model_path());
  const Tokenizer own = vocab_only();
  EXPECT_FALSE(own.uses_sentencepiece());
  // The whole split as one string (as token streams encode it) ...
  const auto a = sp.encode(*heldout_), b = own.encode(*heldout_);
  EXPECT_GT(a.size(), heldout_->size() / 8);
  EXPECT_EQ(first_difference(sp, a, b), "");
  // ... and each line on its own, so that the dummy prefix starts thousands of encodings.
  std::istringstream lines(*heldout_);
  int compared = 0;
  for (std::string line; std::getline(lines, line);) {
    const auto x = sp.encode(line), y = own.encode(line);
    ASSERT_EQ(first_difference(sp, x, y), "") << "line: " << line;
    ++compared;
  }
  EXPECT_GT(compared, 3000);
}

TEST_F(TokenizerBrown, RoundTripsHeldoutAndAnyValidUtf8) {
  const Tokenizer sp = Tokenizer::load(model_path());
  const Tokenizer own = vocab_only();
  EXPECT_EQ(sp.decode(sp.encode(*heldout_)), *heldout_);
  EXPECT_EQ(own.decode(own.encode(*heldout_)), *heldout_);
  // Characters Brown lacks take the byte pieces; controls, tabs and runs of spaces survive.
  const std::string odd =
      "  na\xC3\xAFve caf\xC3\xA9 \xE2\x80\x94 \xE6\x97\xA5\xE6\x9C\xAC\x01\t\x7F end  two   spaces \n";
  EXPECT_EQ(first_difference(sp, sp.encode(odd), own.encode(odd)), "");
  EXPECT_EQ(sp.decode(sp.encode(odd)), odd);
  EXPECT_EQ(own.decode(own.encode(odd)), odd);
  const auto ids = own.encode("\xC3\xAF");  // dummy-prefix space, then the two bytes of U+00EF
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[1], 3 + 0xC3);
  EXPECT_EQ(ids[2], 3 + 0xAF);
  EXPECT_TRUE(own.encode("").empty());
  EXPECT_TRUE(sp.encode("").empty());
}

TEST_F(TokenizerBrown, InvalidUtf8IsKeptAsBytesByPareOnly) {
  // Found while testing: SentencePiece replaces each byte that starts no valid UTF-8 character with U+FFFD
  // (so its round trip loses the byte); pare's SPM-BPE keeps the byte as its <0xNN> piece.
  const std::string bad = "ok \xFF\xC3 end";
  const Tokenizer sp = Tokenizer::load(model_path());
  const Tokenizer own = vocab_only();
  EXPECT_EQ(own.decode(own.encode(bad)), bad);
  EXPECT_EQ(sp.decode(sp.encode(bad)), "ok \xEF\xBF\xBD\xEF\xBF\xBD end");
}

TEST_F(TokenizerBrown, TrainingIsDeterministic) {
  const std::string again = (*dir_ / "again.model").string();
  train_tokenizer(data::brown_text(corpus_dir(), data::BrownSplit::Valid), options_, again);
  EXPECT_EQ(read_file(again), read_file(model_path()));
}

TEST_F(TokenizerBrown, TokenStreamEncodesTheWholeSplit) {
  const Tokenizer t = Tokenizer::load(model_path());
  data::TextPaths paths;
  paths.brown_dir = corpus_dir();
  const TokenStream s = load_token_stream(data::TextSpec::parse("brown:heldout"), t, paths);
  EXPECT_EQ(s.name, "brown:heldout");
  EXPECT_EQ(s.ids, t.encode(*heldout_));
  EXPECT_EQ(s.words, data::count_words(*heldout_));
  EXPECT_EQ(s.bytes, static_cast<int64_t>(heldout_->size()));
  EXPECT_GT(s.tokens_per_word(), 1.0);
  EXPECT_LT(s.tokens_per_word(), 4.0);  // 3.1 at 512 pieces
}

TEST_F(TokenizerBrown, CorruptOrTruncatedModelIsAnErrorNamingTheFile) {
  const std::string bytes = read_file(model_path());
  const std::string bad = (*dir_ / "bad.model").string();
  for (const std::string& content :
       {std::string("this is not a tokenizer model\n"), bytes.substr(0, bytes.size() / 2), std::string()}) {
    std::ofstream(bad, std::ios::binary | std::ios::trunc) << content;
    try {
      Tokenizer::load(bad);
      ADD_FAILURE() << "no error for " << content.size() << " bytes";
    } catch (const Error& e) {
      EXPECT_EQ(e.file_path(), bad);
      EXPECT_NE(e.hint_text().find("tokenizer.model"), std::string::npos) << e.what();
    }
  }
}

TEST(TokenizerErrors, MissingModelNamesTheFileWithAHint) {
  const std::string path = "/nonexistent/pare/tokenizer.model";
  try {
    Tokenizer::load(path);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.file_path(), path);
    EXPECT_NE(e.hint_text().find("tokenizer.model"), std::string::npos);
  }
}

// A hand-made vocabulary: <unk> <s> </s>, then `pieces` (text, score, type).
Vocab small_vocab(const std::vector<Piece>& pieces, bool with_bytes = false) {
  Vocab v;
  v.pieces = {{"<unk>", 0, PieceType::Unknown}, {"<s>", 0, PieceType::Control}, {"</s>", 0, PieceType::Control}};
  if (with_bytes)
    for (int b = 0; b < 256; ++b) v.pieces.push_back({byte_piece_text(static_cast<uint8_t>(b)), 0, PieceType::Byte});
  v.pieces.insert(v.pieces.end(), pieces.begin(), pieces.end());
  return v;
}

std::vector<std::string> pieces_of(const SpmBpe& t, const std::string& text) {
  std::vector<std::string> out;
  for (int32_t id : t.encode(text)) out.push_back(t.vocab().pieces[id].text);
  return out;
}

const std::string kU = "\xE2\x96\x81";  // U+2581

TEST(TokenizerSpmBpe, MergesTheHighestScoringPairLeftmostFirst) {
  const SpmBpe t(small_vocab({{kU, -10, PieceType::Normal},
                              {"a", -10, PieceType::Normal},
                              {"b", -10, PieceType::Normal},
                              {"c", -10, PieceType::Normal},
                              {"ab", -1, PieceType::Normal},
                              {"bc", -0.5, PieceType::Normal},
                              {kU + "a", -2, PieceType::Normal},
                              {"aa", -1, PieceType::Normal}}));
  // "bc" outscores "ab", after which only "▁a" can merge.
  EXPECT_EQ(pieces_of(t, "abc"), (std::vector<std::string>{kU + "a", "bc"}));
  // Equal scores: the leftmost "aa" first, which leaves "▁" and "a" without a merge.
  EXPECT_EQ(pieces_of(t, "aaa"), (std::vector<std::string>{kU, "aa", "a"}));
  // A character outside the vocabulary without byte pieces is <unk>; decode shows it as " \u2047 ".
  EXPECT_EQ(pieces_of(t, "z"), (std::vector<std::string>{kU, "<unk>"}));
  EXPECT_EQ(t.decode(t.encode("ab z")), "ab  \xE2\x81\x87 ");
}

TEST(TokenizerSpmBpe, ByteFallbackUserDefinedUnusedAndWhitespace) {
  const SpmBpe t(small_vocab({{kU, -10, PieceType::Normal},
                              {"a", -10, PieceType::Normal},
                              {"b", -10, PieceType::Normal},
                              {"c", -10, PieceType::Normal},
                              {"bc", -0.5, PieceType::Unused},
                              {kU + "a", -2, PieceType::Normal},
                              {"<sep>", 0, PieceType::UserDefined}},
                             /*with_bytes=*/true));
  EXPECT_EQ(pieces_of(t, "z\xC3\xA9"), (std::vector<std::string>{kU, "<0x7A>", "<0xC3>", "<0xA9>"}));
  // A user-defined piece is cut out first and never merged; an unused piece is split back.
  EXPECT_EQ(pieces_of(t, "a<sep>bc"), (std::vector<std::string>{kU + "a", "<sep>", "b", "c"}));
  // Control pieces decode to nothing, the first piece loses its dummy-prefix space, bytes rejoin.
  const auto ids = t.encode("a  z\xC3\xA9\n");
  std::vector<int32_t> with_bos = {1};
  with_bos.insert(with_bos.end(), ids.begin(), ids.end());
  EXPECT_EQ(t.decode(with_bos), "a  z\xC3\xA9\n");
  EXPECT_THROW(t.decode({static_cast<int32_t>(t.vocab().pieces.size())}), Error);

  Vocab collapse = t.vocab();
  collapse.remove_extra_whitespaces = true;
  const SpmBpe c(std::move(collapse));
  EXPECT_EQ(pieces_of(c, "  a   a  "), (std::vector<std::string>{kU + "a", kU + "a"}));
  EXPECT_TRUE(c.encode("   ").empty());
}

TEST(TokenizerSpmBpe, RejectsInconsistentVocabularies) {
  EXPECT_THROW(SpmBpe(small_vocab({{"a", 0, PieceType::Normal}, {"a", -1, PieceType::Normal}})), Error);
  EXPECT_THROW(SpmBpe(small_vocab({{"<0xZZ>", 0, PieceType::Byte}})), Error);
  EXPECT_THROW(SpmBpe(small_vocab({{"", 0, PieceType::Normal}})), Error);
  Vocab v = small_vocab({{"a", 0, PieceType::Normal}});
  v.bos_id = 99;
  EXPECT_THROW(SpmBpe(std::move(v)), Error);
}

}  // namespace
}  // namespace pare::llm
