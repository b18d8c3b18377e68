// `pare info MODEL`: inputs/outputs, op histogram, parameters, unsupported ops; `--ops` lists what pare runs.
#include <fmt/format.h>

#include <iostream>

#include "pare/cli/command.h"
#include "pare/cli/gguf_info.h"
#include "pare/cli/llama_info.h"
#include "pare/error.h"
#include "pare/io/atomic_file.h"
#include "pare/io/gguf.h"
#include "pare/io/onnx_import.h"
#include "pare/io/pare_package.h"
#include "pare/io/safetensors.h"
#include "pare/llm/llama_package.h"
#include "pare/ops/op_table.h"
#include "pare/report/model_summary.h"
#include "pare/report/safetensors_summary.h"

namespace pare::cli {

namespace {

struct InfoArgs {
  std::string model;
  std::string json;  // "-": stdout; empty: text
  bool list_ops = false, list_nodes = false;
};

// `--json FILE` writes the file, `--json -` or a bare `--json` prints. A bare `--json` before the model
// (`pare info --json m.onnx`) takes the model as its value; info always needs a model, so give it back.
void resolve_json_target(InfoArgs& a, const CLI::Option* json_opt) {
  if (json_opt->count() == 0) return;
  if (a.json.empty()) a.json = "-";
  if (a.model.empty() && a.json != "-") {
    a.model = a.json;
    a.json = "-";
  }
}

// Model names and GGUF strings are not checked for valid UTF-8: U+FFFD for bad bytes rather than a failure.
void emit_json(const nlohmann::json& j, const InfoArgs& a) {
  const std::string text = j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  if (a.json == "-")
    std::cout << text;
  else
    io::write_atomic(a.json, [&](std::ostream& f) { f << text; }, {a.model});
}

void list_ops() {
  for (const auto& [domain, op] : ops::OpTable::builtin().ops()) {
    std::string versions;
    for (int v : ops::OpTable::builtin().versions(domain, op))
      versions += (versions.empty() ? "" : ", ") + std::to_string(v);
    fmt::print("{:<28} since opset {}\n", (domain.empty() ? "" : domain + ".") + op, versions);
  }
}

// What a graph package adds to the graph summary: its format, size and quantized weights.
nlohmann::json package_json(const io::Package& pkg, double& bits_per_weight) {
  nlohmann::json q = nlohmann::json::array();
  double bits = 0, weights = 0;
  for (const auto& l : pkg.weights) {
    q.push_back({{"node", l.node},
                 {"weight", l.weight},
                 {"grid", l.q.main.grid.str()},
                 {"granularity", l.q.main.granularity.str()},
                 {"bits_per_weight", l.q.bits_per_weight()}});
    bits += l.q.storage_bits();
    weights += static_cast<double>(l.q.numel());
  }
  bits_per_weight = weights > 0 ? bits / weights : 0;
  return {{"version", pkg.header.value("version", 0)},
          {"producer", pkg.header.value("producer", "")},
          {"file_bytes", pkg.file_bytes},
          {"metadata", pkg.header.value("metadata", nlohmann::json::object())},
          {"quantized", q},
          {"bits_per_weight", bits_per_weight}};
}

void print_nodes(const ir::Graph& g) {
  std::cout << "nodes (name: op(inputs) -> outputs)\n";
  for (const auto& n : g.nodes) {
    std::string ins, outs;
    for (const auto& v : n.inputs) ins += (ins.empty() ? "" : ", ") + (v.empty() ? std::string("-") : v);
    for (const auto& v : n.outputs) outs += (outs.empty() ? "" : ", ") + v;
    fmt::print("  {}: {}({}) -> {}\n", n.name, n.op_type, ins, outs);
  }
}

// An ONNX model or a graph package.
int graph_info(const InfoArgs& a) {
  std::optional<io::Package> pkg;
  if (io::is_package(a.model)) pkg = io::load_package(a.model);
  const ir::Graph g = pkg ? pkg->graph.clone() : io::load_onnx(a.model);
  if (!a.json.empty()) {
    nlohmann::json j = report::model_summary_json(g, a.model);
    double bpw = 0;
    if (pkg) j["package"] = package_json(*pkg, bpw);
    emit_json(j, a);
    return 0;
  }
  if (pkg) {
    double bpw = 0;
    package_json(*pkg, bpw);
    fmt::print("package    .pare version {} ({}), {} bytes\n", pkg->header.value("version", 0),
               pkg->header.value("producer", "?"), pkg->file_bytes);
    fmt::print("quantized  {} weights, {:.3f} bits/weight\n", pkg->weights.size(), bpw);
    for (const auto& l : pkg->weights)
      fmt::print("  {:<28} {:<16} {:<10} {:.3f} bits/weight\n", l.node, l.q.main.grid.str(), l.q.main.granularity.str(),
                 l.q.bits_per_weight());
  }
  std::cout << report::model_summary_text(g, a.model);
  if (a.list_nodes) print_nodes(g);
  return 0;
}

int run_info(const InfoArgs& a) {
  if (a.model.empty()) throw Error("no model given").hint("usage: pare info MODEL.onnx");
  if (a.json != "-") io::check_output_path(a.json, {a.model}, "--json");
  if (io::is_gguf(a.model)) {
    if (a.json.empty())
      print_gguf_info(a.model);
    else
      emit_json(gguf_info_json(a.model), a);
    return 0;
  }
  if (io::is_safetensors(a.model)) {  // weights only (no graph): the tensor table
    const io::SafetensorsModel st = io::SafetensorsModel::open(a.model);
    if (a.json.empty())
      std::cout << report::safetensors_summary_text(st);
    else
      emit_json(report::safetensors_summary_json(st), a);
    return 0;
  }
  if (llm::is_llama_package(a.model)) {
    const nlohmann::json j = llama_package_info_json(a.model);
    if (a.json.empty())
      std::cout << llama_package_info_text(j);
    else
      emit_json(j, a);
    return 0;
  }
  return graph_info(a);
}

}  // namespace

Action add_info_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Summarize a model: inputs, outputs, ops, parameters, unsupported ops");
  auto a = std::make_shared<InfoArgs>();
  cmd->add_option("model", a->model,
                  "ONNX model file, .pare package (graph or Llama), safetensors file or folder, or GGUF file");
  CLI::Option* json =
      cmd->add_option("--json", a->json, "write the summary as JSON to FILE (bare or -: print it)")->expected(0, 1);
  cmd->add_flag("--ops", a->list_ops, "list the ONNX ops pare implements, with their since-versions");
  cmd->add_flag("--nodes", a->list_nodes, "also list every node with its input and output value names");
  return [a, json]() {
    if (a->list_ops) {
      list_ops();
      return 0;
    }
    resolve_json_target(*a, json);
    return run_info(*a);
  };
}

}  // namespace pare::cli
