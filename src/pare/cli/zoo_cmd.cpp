// `pare zoo NAME --out model.onnx`: writes an untrained zoo model (seeded initialization).
#include <fmt/format.h>

#include "pare/cli/command.h"
#include "pare/error.h"
#include "pare/io/onnx_export.h"
#include "pare/ir/zoo/zoo.h"

namespace pare::cli {

Action add_zoo_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("zoo", "Write an untrained reference model (resnet20, mobilenetv2, vit) as ONNX");
  auto name = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto o = std::make_shared<ir::zoo::ZooOptions>();
  cmd->add_option("name", *name, "resnet20 (resnetN for N = 6n+2), mobilenetv2 or vit")->required();
  cmd->add_option("--out,-o", *out, "output ONNX file")->required();
  cmd->add_option("--classes", o->classes, "number of classes")->check(CLI::Range(2, 100000));
  cmd->add_option("--width", o->width, "channel multiplier")->check(CLI::Range(0.125, 16.0));
  cmd->add_option("--depth", o->depth, "ResNet layers (6n+2) or ViT blocks; 0: default");
  cmd->add_option("--seed", o->seed, "initialization seed");
  return [=]() {
    ir::Graph g = ir::zoo::build(*name, *o);
    io::save_onnx(g, *out);
    fmt::print("wrote {} ({} parameters, {} nodes) to {}\n", *name, g.parameter_count(), g.nodes.size(), *out);
    return 0;
  };
}

}  // namespace pare::cli
