// Text spec strings, the text counterpart of DatasetSpec (dataset.h) for language models:
//   text:FILE                           a UTF-8 text file, read as is
//   brown:train | brown:valid | brown:heldout | brown:all   the Brown corpus splits of text_corpus.h
// A text is a string, not (sample, label) pairs: llm/token_stream.h turns it into token ids for a tokenizer.
#pragma once
#include <string>

#include "pare/data/text_corpus.h"

namespace pare::data {

struct TextSpec {
  std::string kind;  // "text" or "brown"
  std::string arg;   // file or split
  std::string text;  // as the user wrote it, for messages and reports

  // Throws Error listing the valid forms when `text` does not parse.
  static TextSpec parse(const std::string& text);
};

struct TextPaths {
  std::string brown_dir = kBrownDefaultDir;
};

// The Brown corpus folder: `paths.brown_dir` when given or found from the working folder; else (the default
// is relative to the repository root) $PARE_BROWN_DIR, then the repository the running binary was built in.
// Every command that reads the corpus finds it this way, wherever it is run from.
std::string find_brown_dir(const TextPaths& paths = {});

// The whole text the spec names. Error naming the file or folder when it cannot be read.
std::string load_text(const TextSpec& spec, const TextPaths& paths = {});

}  // namespace pare::data
