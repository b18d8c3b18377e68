// `pare info FILE.gguf`: the metadata (long arrays summarized) and the tensor table of a GGUF file.
#pragma once
#include <string>

namespace pare::cli {

// Prints the summary of the GGUF file at `path` (text, or JSON with `json`) and returns the exit code.
int print_gguf_info(const std::string& path, bool json);

}  // namespace pare::cli
