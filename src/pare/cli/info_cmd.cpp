// `pare info MODEL`: inputs/outputs, op histogram, parameters, unsupported ops; `--ops` lists what pare runs.
#include <fmt/format.h>

#include <iostream>

#include "pare/cli/command.h"
#include "pare/cli/gguf_info.h"
#include "pare/error.h"
#include "pare/io/gguf.h"
#include "pare/io/onnx_import.h"
#include "pare/io/pare_package.h"
#include "pare/io/safetensors.h"
#include "pare/ops/op_table.h"
#include "pare/report/model_summary.h"
#include "pare/report/safetensors_summary.h"

namespace pare::cli {

Action add_info_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Summarize a model: inputs, outputs, ops, parameters, unsupported ops");
  auto model = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto list_ops = std::make_shared<bool>(false);
  auto list_nodes = std::make_shared<bool>(false);
  cmd->add_option("model", *model, "ONNX model file, .pare package, safetensors file or folder, or GGUF file");
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
    if (io::is_gguf(*model)) return print_gguf_info(*model, *json);
    if (io::is_safetensors(*model)) {  // weights only (no graph): the tensor table
      const io::SafetensorsModel st = io::SafetensorsModel::open(*model);
      if (*json)
        std::cout << report::safetensors_summary_json(st).dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
                  << "\n";
      else
        std::cout << report::safetensors_summary_text(st);
      return 0;
    }
    std::optional<io::Package> pkg;
    if (io::is_package(*model)) pkg = io::load_package(*model);
    ir::Graph g = pkg ? pkg->graph.clone() : io::load_onnx(*model);
    if (pkg) {
      // What the package adds to the graph summary: its format, size and quantized weights.
      nlohmann::json q = nlohmann::json::array();
      double bits = 0, weights = 0;
      for (const auto& l : pkg->weights) {
        q.push_back({{"node", l.node},
                     {"weight", l.weight},
                     {"grid", l.q.main.grid.str()},
                     {"granularity", l.q.main.granularity.str()},
                     {"bits_per_weight", l.q.bits_per_weight()}});
        bits += l.q.storage_bits();
        weights += static_cast<double>(l.q.numel());
      }
      if (*json) {
        nlohmann::json j = report::model_summary_json(g, *model);
        j["package"] = {{"version", pkg->header.value("version", 0)},
                        {"producer", pkg->header.value("producer", "")},
                        {"file_bytes", pkg->file_bytes},
                        {"metadata", pkg->header.value("metadata", nlohmann::json::object())},
                        {"quantized", q},
                        {"bits_per_weight", weights > 0 ? bits / weights : 0}};
        std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
        return 0;
      }
      fmt::print("package    .pare version {} ({}), {} bytes\n", pkg->header.value("version", 0),
                 pkg->header.value("producer", "?"), pkg->file_bytes);
      fmt::print("quantized  {} weights, {:.3f} bits/weight\n", pkg->weights.size(), weights > 0 ? bits / weights : 0);
      for (const auto& l : pkg->weights)
        fmt::print("  {:<28} {:<16} {:<10} {:.3f} bits/weight\n", l.node, l.q.main.grid.str(),
                   l.q.main.granularity.str(), l.q.bits_per_weight());
    }
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
