// `pare zoo NAME --out model.onnx`: writes an untrained zoo model (seeded initialization).
// `pare zoo llama --config PRESET|config.json --random --out DIR`: a random-weight Llama as a Hugging Face folder.
#include <fmt/format.h>

#include "pare/cli/command.h"
#include "pare/error.h"
#include "pare/io/onnx_export.h"
#include "pare/ir/zoo/zoo.h"
#include "pare/llm/llama_config.h"
#include "pare/llm/llama_graph.h"
#include "pare/llm/model_loader.h"

namespace pare::cli {

Action add_zoo_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "zoo", "Write an untrained reference model: resnet20, mobilenetv2, vit (ONNX) or llama (Hugging Face folder)");
  auto name = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto o = std::make_shared<ir::zoo::ZooOptions>();
  auto config = std::make_shared<std::string>();
  auto dtype = std::make_shared<std::string>("f16");
  auto random = std::make_shared<bool>(false);
  cmd->add_option("name", *name, "resnet20 (resnetN for N = 6n+2), mobilenetv2, vit or llama")->required();
  cmd->add_option("--out,-o", *out, "output ONNX file (llama: output folder)")->required();
  cmd->add_option("--config", *config,
                  "llama: a preset (tinyllama-1.1b, brown-llama, test) or a Hugging Face config.json");
  cmd->add_option("--dtype", *dtype, "llama: weight storage f16, bf16 or f32")
      ->check(CLI::IsMember({"f16", "bf16", "f32"}));
  cmd->add_flag("--random", *random, "llama: random weights (normal, std 0.02; what every zoo model starts from)");
  cmd->add_option("--classes", o->classes, "number of classes")->check(CLI::Range(2, 100000));
  cmd->add_option("--width", o->width, "channel multiplier")->check(CLI::Range(0.125, 16.0));
  cmd->add_option("--depth", o->depth, "ResNet layers (6n+2) or ViT blocks; 0: default");
  cmd->add_option("--seed", o->seed, "initialization seed");
  return [=]() {
    if (*name == "llama") {
      if (config->empty())
        throw Error("pare zoo llama needs --config")
            .hint("a preset (tinyllama-1.1b, brown-llama, test) or config.json");
      const bool preset = config->find('/') == std::string::npos && config->find(".json") == std::string::npos;
      llm::LlamaConfig c = preset ? llm::LlamaConfig::preset(*config) : llm::LlamaConfig::load(*config);
      const at::ScalarType st = *dtype == "f16" ? at::kHalf : *dtype == "bf16" ? at::kBFloat16 : at::kFloat;
      std::vector<std::pair<std::string, at::Tensor>> weights;  // cast one by one: a 1B model's fp32 copy is 4 GB
      const llm::WeightSource w = llm::random_weights(c, o->seed);
      for (const auto& t : llm::llama_tensors(c)) weights.emplace_back(t.name, w(t.name).to(st));
      llm::save_llama_folder(*out, c, weights, st);
      fmt::print("wrote llama ({} parameters, {} layers, random weights, {}) to {}\n", c.parameter_count(),
                 c.num_layers, *dtype, *out);
      return 0;
    }
    ir::Graph g = ir::zoo::build(*name, *o);
    io::save_onnx(g, *out);
    fmt::print("wrote {} ({} parameters, {} nodes) to {}\n", *name, g.parameter_count(), g.nodes.size(), *out);
    return 0;
  };
}

}  // namespace pare::cli
