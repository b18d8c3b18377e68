// `pare export MODEL --format gguf --type f16|q8_0|q4_0 --out FILE.gguf`: a Llama model (Hugging Face
// folder, GGUF or .pare) written as a GGUF file that llama.cpp loads, tokenizer included.
#include <fmt/format.h>

#include "pare/cli/command.h"
#include "pare/error.h"
#include "pare/formats/ggml_types.h"
#include "pare/llm/gguf_llama.h"
#include "pare/llm/model_loader.h"
#include "pare/llm/model_tokenizer.h"

namespace pare::cli {

Action add_export_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("export", "Write a Llama model as GGUF (for llama.cpp)");
  auto model = std::make_shared<std::string>();
  auto format = std::make_shared<std::string>("gguf");
  auto type = std::make_shared<std::string>("f16");
  auto out = std::make_shared<std::string>();
  auto tokenizer = std::make_shared<std::string>();
  auto name = std::make_shared<std::string>();
  cmd->add_option("model", *model, "Hugging Face model folder, .gguf file or .pare package")->required();
  cmd->add_option("--format", *format, "output format")->check(CLI::IsMember({"gguf"}));
  cmd->add_option("--type", *type,
                  "tensor type of every 2-D weight (norms stay f32): f32, f16, q8_0 or q4_0 (llama.cpp block layouts)")
      ->check(CLI::IsMember({"f32", "f16", "q8_0", "q4_0"}));
  cmd->add_option("--out,-o", *out, "output .gguf file")->required();
  cmd->add_option("--tokenizer", *tokenizer, "SentencePiece tokenizer.model (default: the model's own)");
  cmd->add_option("--name", *name, "general.name of the file (default: the model folder's name)");
  // Captured explicitly: [=] copies only what the body names, and CLI11 writes --format into *format after
  // this function returns, so an unnamed shared_ptr would leave it writing into freed memory.
  return [=, format = format]() {
    PARE_ASSERT(*format == "gguf", "export format checked by CLI11");
    llm::LlamaModel m = llm::load_llama(*model);
    const llm::Tokenizer tok = llm::model_tokenizer(*model, *tokenizer, m.config.vocab_size);
    const formats::GgmlType t = *formats::ggml_type_from_name(*type);
    std::string general_name = *name;
    if (general_name.empty()) {
      std::string p = *model;
      while (p.size() > 1 && p.back() == '/') p.pop_back();
      general_name = p.substr(p.find_last_of('/') == std::string::npos ? 0 : p.find_last_of('/') + 1);
    }
    const llm::GgufExport r = llm::export_llama_gguf(m, tok.vocab(), t, *out, general_name, {*model, *tokenizer});
    fmt::print("wrote {} ({}, {} tensors as {}, tokenizer from {})\n", *out, general_name, r.tensors, *type,
               tok.source());
    if (r.kept_codes > 0)
      fmt::print("kept       the codes of {} quantized weights (no second rounding)\n", r.kept_codes);
    for (const auto& why : r.rounded) fmt::print("rounded    {} (rounded again from its values)\n", why);
    return 0;
  };
}

}  // namespace pare::cli
