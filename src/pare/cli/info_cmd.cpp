// `pare info MODEL`: inputs/outputs, op histogram, parameters, unsupported ops; `--ops` lists what pare runs.
#include <fmt/format.h>

#include <iostream>

#include "pare/cli/command.h"
#include "pare/error.h"
#include "pare/io/onnx_import.h"
#include "pare/ops/op_table.h"
#include "pare/report/model_summary.h"

namespace pare::cli {

Action add_info_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Summarize a model: inputs, outputs, ops, parameters, unsupported ops");
  auto model = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto list_ops = std::make_shared<bool>(false);
  auto list_nodes = std::make_shared<bool>(false);
  cmd->add_option("model", *model, "ONNX model file");
  cmd->add_flag("--json", *json, "print the summary as JSON");
  cmd->add_flag("--ops", *list_ops, "list the ONNX ops pare implements, with their since-versions");
  cmd->add_flag("--nodes", *list_nodes, "also list every node with its input and output value names");
  return [=]() {
    if (*list_ops) {
      for (const auto& [domain, op] : ops::OpTable::builtin().ops()) {
        std::string versions;
        for (int v : ops::OpTable::builtin().versions(domain, op))
          versions += (versions.empty() ? "" : ", ") + std::to_string(v);
        fmt::print("{:<28} since opset {}\n", (domain.empty() ? "" : domain + ".") + op, versions);
      }
      return 0;
    }
    if (model->empty()) throw Error("no model given").hint("usage: pare info MODEL.onnx");
    ir::Graph g = io::load_onnx(*model);
    // ONNX names are not checked for valid UTF-8; print U+FFFD for bad bytes rather than fail on them.
    if (*json)
      std::cout << report::model_summary_json(g, *model).dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
                << "\n";
    else
      std::cout << report::model_summary_text(g, *model);
    if (*list_nodes && !*json) {
      std::cout << "nodes (name: op(inputs) -> outputs)\n";
      for (const auto& n : g.nodes) {
        std::string ins, outs;
        for (const auto& v : n.inputs) ins += (ins.empty() ? "" : ", ") + (v.empty() ? std::string("-") : v);
        for (const auto& v : n.outputs) outs += (outs.empty() ? "" : ", ") + v;
        fmt::print("  {}: {}({}) -> {}\n", n.name, n.op_type, ins, outs);
      }
    }
    return 0;
  };
}

}  // namespace pare::cli
