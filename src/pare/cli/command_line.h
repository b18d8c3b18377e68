// Command-line mistakes told the pare way: an unknown command or flag names the nearest valid one, and
// CLI11's own parse errors get pare's "error / hint" form pointing at the sub-command's --help.
#pragma once
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "pare/error.h"

namespace pare::cli {

// The candidate closest to `word` by edit distance (dashes ignored), or "" when none is close enough to be a
// likely typo.
std::string nearest(const std::string& word, const std::vector<std::string>& candidates);

// Before parsing: throws Error for a sub-command or flag that `app` does not know, naming the nearest valid
// one. `args` excludes the program name. What it cannot judge is left to CLI11.
void check_command_line(const CLI::App& app, const std::vector<std::string>& args);

// A CLI11 parse error as a pare Error: CLI11's message, and a hint to the chosen sub-command's --help.
Error parse_error(const CLI::App& app, const std::vector<std::string>& args, const CLI::ParseError& e);

}  // namespace pare::cli
