// `pare info MODEL.pare` for a Llama package (written by `pare quantize LLAMA --out q.pare`): its config, every
// tensor (float ones with their dtype, quantized ones with their grid, granularity and bits per weight), the
// tokenizer it stores and the file's size. The text form is printed from the JSON, so both say the same.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace pare::cli {

// Opens the package as `pare ppl` does (header, shapes against the config, checksums): Error when damaged.
nlohmann::json llama_package_info_json(const std::string& path);
std::string llama_package_info_text(const nlohmann::json& info);

}  // namespace pare::cli
