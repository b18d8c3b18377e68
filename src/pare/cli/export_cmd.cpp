// `pare export MODEL --format gguf --type f16|q8_0|q4_0 --out FILE.gguf`: a Llama model (Hugging Face
// folder, GGUF or .pare) written as a GGUF file that llama.cpp loads, tokenizer included.
#include <fmt/format.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "pare/cli/command.h"
#include "pare/error.h"
#include "pare/formats/ggml_types.h"
#include "pare/io/atomic_file.h"
#include "pare/llm/gguf_llama.h"
#include "pare/llm/model_loader.h"
#include "pare/llm/model_tokenizer.h"
#include "pare/report/progress.h"

namespace pare::cli {

namespace {

struct ExportArgs {
  std::string model, format = "gguf", type = "f16", out, tokenizer, name, json;
  bool quiet = false;
};

// The output's extension names its format: a GGUF written as x.onnx would mislead every later reader.
void check_outputs(const ExportArgs& a, const std::vector<std::string>& inputs) {
  const std::string ext = std::filesystem::path(a.out).extension().string();
  if (ext != "." + a.format)
    throw Error("--out does not end in ." + a.format + " (the --format)")
        .file(a.out)
        .expected("a ." + a.format + " file name")
        .got(ext.empty() ? std::string("no extension") : "'" + ext + "'")
        .hint("name the output FILE." + a.format);
  io::check_output_path(a.out, inputs, "--out");
  io::check_output_path(a.json, inputs, "--json");
  if (!a.json.empty() && std::filesystem::absolute(a.json) == std::filesystem::absolute(a.out))
    throw Error("--json and --out name the same file").file(a.out);
}

// Every file the export reads: the model (a folder's files too: their weights are memory-mapped) and tokenizer.
std::vector<std::string> input_files(const ExportArgs& a) {
  std::vector<std::string> in{a.model, a.tokenizer};
  std::error_code ec;
  if (std::filesystem::is_directory(a.model, ec))
    for (const auto& e : std::filesystem::directory_iterator(a.model, ec)) in.push_back(e.path().string());
  return in;
}

std::string default_name(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p.substr(p.find_last_of('/') == std::string::npos ? 0 : p.find_last_of('/') + 1);
}

// llama.cpp's SentencePiece tokenizer normalizes nothing: say so when this model's tokenizer does.
std::string normalizer_warning(const std::vector<std::string>& steps, const std::string& source) {
  if (steps.empty()) return "";
  std::string what;
  for (const auto& s : steps) what += (what.empty() ? "" : "; ") + s;
  return fmt::format(
      "the tokenizer ({}) normalizes its input before encoding: {}. llama.cpp applies no normalizer to a "
      "GGUF's SentencePiece vocabulary, so texts with such characters or spaces become other (usually more) "
      "tokens there than in pare, and llama.cpp's perplexity is not comparable with pare's (docs/llm.md, "
      "\"Tokenizers that normalize\")",
      source, what);
}

nlohmann::json export_json(const ExportArgs& a, const std::string& name, const llm::GgufExport& r,
                           const std::string& tokenizer, const std::vector<std::string>& steps,
                           const std::string& warning) {
  return {{"model", a.model},
          {"out", a.out},
          {"format", a.format},
          {"type", a.type},
          {"name", name},
          {"file_bytes", std::filesystem::file_size(a.out)},
          {"tensors", r.tensors},
          {"kept_codes", r.kept_codes},
          {"rounded", r.rounded},
          {"tokenizer", tokenizer},
          {"tokenizer_normalization", steps},
          {"warnings", warning.empty() ? nlohmann::json::array() : nlohmann::json::array({warning})}};
}

}  // namespace

Action add_export_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("export", "Write a Llama model as GGUF (for llama.cpp)");
  auto a = std::make_shared<ExportArgs>();
  cmd->add_option("model", a->model, "Hugging Face model folder, .gguf file or .pare package")->required();
  cmd->add_option("--format", a->format, "output format")->check(CLI::IsMember({"gguf"}))->capture_default_str();
  cmd->add_option("--type", a->type,
                  "tensor type of every 2-D weight (norms stay f32): f32, f16, q8_0 or q4_0 (llama.cpp block layouts)")
      ->check(CLI::IsMember({"f32", "f16", "q8_0", "q4_0"}))
      ->capture_default_str();
  cmd->add_option("--out,-o", a->out, "output file, named after the format: FILE.gguf")->required();
  cmd->add_option("--tokenizer", a->tokenizer, "SentencePiece tokenizer.model (default: the model's own)");
  cmd->add_option("--name", a->name, "general.name of the file (default: the model folder's name)");
  cmd->add_option("--json", a->json, "also write what was exported (and any warning) as JSON to this file");
  cmd->add_flag("--quiet", a->quiet, "no progress output");
  return [a]() {
    const std::vector<std::string> inputs = input_files(*a);
    check_outputs(*a, inputs);
    llm::LlamaModel m = llm::load_llama(a->model);
    const llm::Tokenizer tok =
        llm::model_tokenizer(a->model, a->tokenizer, m.config.vocab_size,
                             "give --tokenizer FILE (the model's SentencePiece tokenizer.model)");
    const std::optional<llm::SentencePieceModel> spm = llm::model_sentencepiece(a->model, a->tokenizer);
    const std::vector<std::string> steps = spm ? llm::normalization_steps(*spm) : std::vector<std::string>{};
    const std::string warning = normalizer_warning(steps, tok.source());
    if (!warning.empty()) fmt::print(stderr, "pare: warning: {}\n", warning);
    const formats::GgmlType t = *formats::ggml_type_from_name(a->type);
    const std::string name = a->name.empty() ? default_name(a->model) : a->name;
    std::unique_ptr<report::Progress> bar;
    const llm::GgufExport r =
        llm::export_llama_gguf(m, tok.vocab(), t, a->out, name, inputs, [&](int64_t done, int64_t total) {
          if (!bar) bar = std::make_unique<report::Progress>("export", total, a->quiet);
          bar->update(done, "tensors");
        });
    if (bar) bar->finish();
    fmt::print("wrote {} ({}, {} tensors as {}, tokenizer from {})\n", a->out, name, r.tensors, a->type, tok.source());
    if (r.kept_codes > 0)
      fmt::print("kept       the codes of {} quantized weights (no second rounding)\n", r.kept_codes);
    for (const auto& why : r.rounded) fmt::print("rounded    {} (rounded again from its values)\n", why);
    if (!a->json.empty()) {
      const nlohmann::json j = export_json(*a, name, r, tok.source(), steps, warning);
      io::write_atomic(
          a->json, [&](std::ostream& f) { f << j.dump(2) << "\n"; }, inputs);
    }
    return 0;
  };
}

}  // namespace pare::cli
