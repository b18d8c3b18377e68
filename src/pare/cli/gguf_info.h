// `pare info FILE.gguf`: the metadata (long arrays summarized) and the tensor table of a GGUF file.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace pare::cli {

// The summary of the GGUF file at `path`: printed as text, or as JSON.
void print_gguf_info(const std::string& path);
nlohmann::json gguf_info_json(const std::string& path);

}  // namespace pare::cli
