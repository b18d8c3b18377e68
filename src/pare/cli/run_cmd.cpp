// `pare run MODEL --input NAME=FILE.npy ... --output-dir DIR`: one .npy per graph output.
#include <fmt/format.h>

#include <ATen/Parallel.h>

#include <chrono>
#include <filesystem>
#include <iostream>

#include "pare/cli/command.h"
#include "pare/error.h"
#include "pare/exec/executor.h"
#include "pare/io/npy.h"
#include "pare/io/onnx_import.h"

namespace pare::cli {
namespace fs = std::filesystem;

// Output names may contain '/' or ':' (ONNX allows any string); files get a safe version.
static std::string file_name_for(const std::string& value) {
  std::string s;
  for (char c : value) s += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '_';
  return s + ".npy";
}

Action add_run_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("run", "Run a model on .npy inputs and write one .npy per output");
  auto model = std::make_shared<std::string>();
  auto inputs = std::make_shared<std::vector<std::string>>();
  auto out_dir = std::make_shared<std::string>();
  auto threads = std::make_shared<int>(0);
  cmd->add_option("model", *model, "ONNX model file")->required();
  cmd->add_option("--input,-i", *inputs, "NAME=FILE.npy (or FILE.npy for a single-input model)");
  cmd->add_option("--output-dir,-o", *out_dir, "folder for the outputs (created if missing)");
  cmd->add_option("--threads", *threads, "intra-op threads (0: libtorch default)");
  return [=]() {
    if (*threads > 0) at::set_num_threads(*threads);
    ir::Graph g = io::load_onnx(*model);
    exec::Executor ex(g);
    exec::TensorMap feeds;
    for (const auto& spec : *inputs) {
      auto eq = spec.find('=');
      std::string name, file;
      if (eq == std::string::npos) {
        if (g.inputs.size() != 1)
          throw Error("--input '" + spec + "' has no NAME= and the model has " + std::to_string(g.inputs.size()) + " inputs")
              .hint("write --input NAME=FILE.npy; `pare info " + *model + "` lists the input names");
        name = g.inputs[0].name;
        file = spec;
      } else {
        name = spec.substr(0, eq);
        file = spec.substr(eq + 1);
      }
      if (!g.is_input(name)) {
        std::string names;
        for (const auto& v : g.inputs) names += (names.empty() ? "" : ", ") + v.name;
        throw Error("the model has no input named '" + name + "'").file(*model).expected(names);
      }
      feeds[name] = io::load_npy(file);
    }
    std::vector<std::string> missing;
    for (const auto& v : g.inputs)
      if (!feeds.count(v.name)) missing.push_back(v.name + " " + ir::dtype_name(v.dtype) + ir::shape_string(v.shape));
    if (!missing.empty()) {
      std::string list;
      for (const auto& m : missing) list += (list.empty() ? "" : "; ") + m;
      throw Error("missing input(s): " + list).file(*model).hint("pass each with --input NAME=FILE.npy");
    }
    auto t0 = std::chrono::steady_clock::now();
    exec::TensorMap out = ex.run(feeds);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    // Outputs are computed in full before anything is written: a failure leaves no partial output.
    if (!out_dir->empty()) fs::create_directories(*out_dir);
    for (const auto& o : g.outputs) {
      const at::Tensor& t = out.at(o.name);
      std::string line = fmt::format("output {:<20} {:<8} {}", o.name, c10::toString(t.scalar_type()), ir::shape_string(t.sizes()));
      if (at::isFloatingType(t.scalar_type()) && t.numel())
        line += fmt::format("  min {:.4g} max {:.4g} mean {:.4g}", t.min().item<double>(), t.max().item<double>(),
                            t.to(at::kDouble).mean().item<double>());
      if (!out_dir->empty()) {
        std::string path = (fs::path(*out_dir) / file_name_for(o.name)).string();
        io::save_npy(t, path);
        line += "  -> " + path;
      }
      std::cout << line << "\n";
    }
    std::cout << fmt::format("ran {} nodes in {:.2f} ms\n", g.nodes.size(), ms);
    return 0;
  };
}

}  // namespace pare::cli
