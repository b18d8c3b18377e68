// `pare zoo NAME --out model.onnx`: writes an untrained zoo model (seeded initialization).
// `pare zoo llama --config PRESET|config.json --out DIR`: a random-weight Llama as a Hugging Face folder, with a
// tokenizer.model of the config's vocab_size (so that it can be scored on text at once).
#include <fmt/format.h>

#include <fstream>
#include <memory>
#include <sstream>

#include "pare/cli/command.h"
#include "pare/data/text_spec.h"
#include "pare/error.h"
#include "pare/io/atomic_file.h"
#include "pare/io/onnx_export.h"
#include "pare/ir/zoo/zoo.h"
#include "pare/llm/llama_config.h"
#include "pare/llm/llama_graph.h"
#include "pare/llm/model_loader.h"
#include "pare/llm/sentencepiece_model.h"
#include "pare/llm/tokenizer_train.h"
#include "pare/report/progress.h"

namespace pare::cli {

namespace {

struct LlamaZooArgs {
  std::string config, dtype = "f16", tokenizer, tokenizer_data = "brown:train";
  bool no_tokenizer = false, quiet = false;
};

constexpr int32_t kMinTrainedVocab = 260;  // 3 special + 256 byte pieces + at least one merge

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The tokenizer.model the folder gets: a given one (its size checked), none, or a byte-fallback BPE trained on
// a text with the config's vocab_size pieces. Runs before any weight is made, so that a failure writes nothing.
std::optional<std::string> zoo_tokenizer(const LlamaZooArgs& a, const llm::LlamaConfig& c, const std::string& out) {
  if (a.no_tokenizer) return std::nullopt;
  if (!a.tokenizer.empty()) {
    const llm::SentencePieceModel m = llm::read_sentencepiece_model(a.tokenizer);
    if (m.vocab.size() != c.vocab_size)
      throw Error("the tokenizer does not fit the config")
          .file(a.tokenizer)
          .expected(fmt::format("{} pieces (the config's vocab_size)", c.vocab_size))
          .got(fmt::format("{} pieces", m.vocab.size()));
    return read_file(a.tokenizer);
  }
  if (c.vocab_size < kMinTrainedVocab) {
    fmt::print(
        "note: vocab_size {} is below the {} pieces of a byte-fallback tokenizer; the folder gets no "
        "tokenizer.model (score it with pare ppl --tokens FILE.npy)\n",
        c.vocab_size, kMinTrainedVocab);
    return std::nullopt;
  }
  const data::TextSpec spec = data::TextSpec::parse(a.tokenizer_data);
  const std::string text = data::load_text(spec);
  llm::TokenizerTrainOptions o;
  o.vocab_size = static_cast<int32_t>(c.vocab_size);
  report::Progress bar(fmt::format("tokenizer ({} pieces on {})", c.vocab_size, spec.text), 1, a.quiet);
  bar.update(0, "training");
  try {
    std::string model = llm::train_tokenizer_model(text, o, out + "/tokenizer.model");
    bar.finish();
    return model;
  } catch (Error& e) {
    e.hint(
        "train on another text (--tokenizer-data text:FILE), give --tokenizer FILE (a tokenizer.model of "
        "vocab_size pieces) or --no-tokenizer");
    throw;
  }
}

int zoo_llama(const LlamaZooArgs& a, const std::string& out, uint64_t seed) {
  if (a.config.empty())
    throw Error("pare zoo llama needs --config").hint("a preset (tinyllama-1.1b, brown-llama, test) or config.json");
  if (!a.tokenizer.empty() && a.no_tokenizer) throw Error("--tokenizer and --no-tokenizer exclude each other");
  const bool preset = a.config.find('/') == std::string::npos && a.config.find(".json") == std::string::npos;
  const llm::LlamaConfig c = preset ? llm::LlamaConfig::preset(a.config) : llm::LlamaConfig::load(a.config);
  io::check_output_path(out, {a.config, a.tokenizer}, "--out", true);
  const std::optional<std::string> tokenizer = zoo_tokenizer(a, c, out);
  const at::ScalarType st = a.dtype == "f16" ? at::kHalf : a.dtype == "bf16" ? at::kBFloat16 : at::kFloat;
  const std::vector<llm::LlamaTensor> tensors = llm::llama_tensors(c);
  report::Progress bar("weights", static_cast<int64_t>(tensors.size()), a.quiet);
  std::vector<std::pair<std::string, at::Tensor>> weights;  // cast one by one: a 1B model's fp32 copy is 4 GB
  const llm::WeightSource w = llm::random_weights(c, seed);
  for (const auto& t : tensors) {
    weights.emplace_back(t.name, w(t.name).to(st));
    bar.update(static_cast<int64_t>(weights.size()), "tensors");
  }
  bar.finish();
  llm::save_llama_folder(out, c, weights, st, tokenizer);
  fmt::print("wrote llama ({} parameters, {} layers, random weights, {}{}) to {}\n", c.parameter_count(), c.num_layers,
             a.dtype,
             tokenizer ? fmt::format(", tokenizer.model of {} pieces", c.vocab_size) : std::string(", no tokenizer"),
             out);
  return 0;
}

}  // namespace

Action add_zoo_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "zoo", "Write an untrained reference model: resnet20, mobilenetv2, vit (ONNX) or llama (Hugging Face folder)");
  auto name = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto o = std::make_shared<ir::zoo::ZooOptions>();
  auto l = std::make_shared<LlamaZooArgs>();
  auto random = std::make_shared<bool>(false);
  cmd->add_option("name", *name, "resnet20 (resnetN for N = 6n+2), mobilenetv2, vit or llama")->required();
  cmd->add_option("--out,-o", *out, "output ONNX file (llama: output folder)")->required();
  cmd->add_option("--config", l->config,
                  "llama: a preset (tinyllama-1.1b, brown-llama, test) or a Hugging Face config.json");
  cmd->add_option("--dtype", l->dtype, "llama: weight storage f16, bf16 or f32")
      ->check(CLI::IsMember({"f16", "bf16", "f32"}))
      ->capture_default_str();
  cmd->add_flag("--random", *random,
                "llama: random weights (normal, std 0.02); the default and only choice: zoo models are untrained");
  cmd->add_option("--tokenizer", l->tokenizer, "llama: copy this tokenizer.model (vocab_size pieces) into the folder");
  cmd->add_option("--tokenizer-data", l->tokenizer_data,
                  "llama: else train a byte-fallback BPE tokenizer of vocab_size pieces on this text spec")
      ->capture_default_str();
  cmd->add_flag("--no-tokenizer", l->no_tokenizer, "llama: write no tokenizer.model");
  cmd->add_flag("--quiet", l->quiet, "llama: no progress output");
  cmd->add_option("--classes", o->classes, "number of classes")->check(CLI::Range(2, 100000));
  cmd->add_option("--width", o->width, "channel multiplier")->check(CLI::Range(0.125, 16.0));
  cmd->add_option("--depth", o->depth, "ResNet layers (6n+2) or ViT blocks; 0: default");
  cmd->add_option("--seed", o->seed, "initialization seed");
  return [=]() {
    if (*name == "llama") return zoo_llama(*l, *out, o->seed);
    io::check_output_path(*out, {}, "--out");
    ir::Graph g = ir::zoo::build(*name, *o);
    io::save_onnx(g, *out);
    fmt::print("wrote {} ({} parameters, {} nodes) to {}\n", *name, g.parameter_count(), g.nodes.size(), *out);
    return 0;
  };
}

}  // namespace pare::cli
