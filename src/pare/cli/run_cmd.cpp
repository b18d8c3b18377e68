// `pare run MODEL --input NAME=FILE.npy ... --out DIR`: one .npy per graph output.
#include <fmt/format.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>

#include "pare/cli/command.h"
#include "pare/error.h"
#include "pare/exec/executor.h"
#include "pare/exec/inference_setup.h"
#include "pare/exec/threads.h"
#include "pare/io/atomic_file.h"
#include "pare/io/npy.h"
#include "pare/io/onnx_import.h"
#include "pare/io/pare_package.h"
#include "pare/tensor_text.h"

namespace pare::cli {
namespace fs = std::filesystem;

// Output names may contain '/' or ':' (ONNX allows any string); files get a safe version.
static std::string file_name_for(const std::string& value) {
  std::string s;
  for (char c : value) s += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '_';
  return s + ".npy";
}

namespace {

// Parses the --input specs, loads each .npy and checks it against the model's declared input, so that an
// error names the .npy file as well as the input. `files` receives the paths read (never to be overwritten).
exec::TensorMap load_feeds(const ir::Graph& g, const exec::Executor& ex, const std::string& model,
                           const std::vector<std::string>& specs, std::vector<std::string>& files) {
  std::string names;
  for (const auto& v : g.inputs) names += (names.empty() ? "" : ", ") + v.name;
  exec::TensorMap feeds;
  for (const auto& spec : specs) {
    auto eq = spec.find('=');
    std::string name, file;
    if (eq == std::string::npos) {
      if (g.inputs.size() != 1)
        throw Error("--input '" + spec + "' has no NAME= and the model has " + std::to_string(g.inputs.size()) +
                    " inputs")
            .file(model)
            .expected("--input NAME=FILE.npy with NAME one of: " + names)
            .hint("`pare info " + model + "` lists the inputs with their shapes");
      name = g.inputs[0].name;
      file = spec;
    } else {
      name = spec.substr(0, eq);
      file = spec.substr(eq + 1);
    }
    if (!g.is_input(name))
      throw Error("the model has no input named '" + name + "'")
          .file(model)
          .expected(names.empty() ? "no --input (the model takes none)" : "one of: " + names)
          .hint("`pare info " + model + "` lists the inputs with their shapes");
    if (feeds.count(name))
      throw Error("input '" + name + "' is given twice").file(model).tensor(name).hint("pass each input once");
    at::Tensor t = io::load_npy(file);
    try {
      ex.check_input(*g.find_value_info(name), t);
    } catch (Error& e) {
      throw e.file(file).hint("this .npy does not fit input '" + name + "' of " + model + "; `pare info " + model +
                              "` lists the inputs with their shapes");
    }
    feeds[name] = t;
    files.push_back(file);
  }
  std::vector<std::string> missing;
  for (const auto& v : g.inputs)
    if (!feeds.count(v.name)) missing.push_back(v.name + " " + ir::dtype_name(v.dtype) + ir::shape_string(v.shape));
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += (list.empty() ? "" : "; ") + m;
    throw Error("missing input(s): " + list)
        .file(model)
        .expected("a value for each of: " + names)
        .hint("pass each with --input NAME=FILE.npy");
  }
  return feeds;
}

// One file per graph output in `dir`. Refuses two outputs mapping to one file name and any path that is one
// of the input files, before anything is written.
std::vector<std::string> output_paths(const ir::Graph& g, const std::string& dir,
                                      const std::vector<std::string>& inputs) {
  std::vector<std::string> paths;
  std::map<std::string, std::string> owner;
  for (const auto& o : g.outputs) {
    std::string path = (fs::path(dir) / file_name_for(o.name)).string();
    auto [it, fresh] = owner.emplace(path, o.name);
    if (!fresh)
      throw Error("outputs '" + it->second + "' and '" + o.name + "' would both be written to one file")
          .file(path)
          .hint("rename one of the outputs in the model");
    try {
      io::refuse_overwrite(path, inputs);
    } catch (Error& e) {
      throw e.hint("output '" + o.name + "' would replace it; choose an --out folder that holds no input file");
    }
    paths.push_back(path);
  }
  return paths;
}

// Writes every output; if one write fails, removes what this run wrote (and the folder if this run made it),
// so that --out never holds a partial result.
void write_outputs(const std::vector<at::Tensor>& tensors, const std::vector<std::string>& paths,
                   const std::string& dir) {
  std::error_code ec;
  const bool made_dir = !fs::exists(dir, ec);
  if (made_dir && !fs::create_directories(dir, ec) && ec)
    throw Error("cannot create the output folder: " + ec.message()).file(dir).hint("check the path and permissions");
  size_t written = 0;
  try {
    for (; written < paths.size(); ++written) io::save_npy(tensors[written], paths[written]);
  } catch (...) {
    for (size_t i = 0; i < written; ++i) fs::remove(paths[i], ec);
    if (made_dir) fs::remove(dir, ec);
    throw;
  }
}

struct RunArgs {
  std::string model;
  std::vector<std::string> inputs;
  std::string out_dir;
  int threads = 0;
  int repeat = 1;
  bool nchw = false;
};

int run_model(const RunArgs& a) {
  const std::string& model = a.model;
  const std::string& out_dir = a.out_dir;
  exec::set_threads(a.threads);
  io::check_output_path(out_dir, {model}, "--out", /*folder=*/true);
  ir::Graph g = io::load_model(model);
  exec::ExecOptions options = exec::prepare_for_inference(g);
  options.channels_last = !a.nchw;
  exec::Executor ex(g, options);
  std::vector<std::string> input_files{model};
  exec::TensorMap feeds = load_feeds(g, ex, model, a.inputs, input_files);
  std::vector<std::string> paths;
  if (!out_dir.empty()) paths = output_paths(g, out_dir, input_files);

  exec::TensorMap out;
  std::vector<double> times_ms;
  for (int r = 0; r < (a.repeat > 1 ? a.repeat + 1 : 1); ++r) {
    auto t0 = std::chrono::steady_clock::now();
    out = ex.run(feeds);
    times_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  if (times_ms.size() > 1) times_ms.erase(times_ms.begin());  // the first run warms up allocators and oneDNN
  std::sort(times_ms.begin(), times_ms.end());
  const double ms = times_ms[times_ms.size() / 2];
  // Outputs are computed in full before anything is written: a failure leaves no partial output.
  std::vector<at::Tensor> tensors;
  for (const auto& o : g.outputs) tensors.push_back(out.at(o.name));
  if (!out_dir.empty()) write_outputs(tensors, paths, out_dir);
  for (size_t k = 0; k < g.outputs.size(); ++k) {
    const at::Tensor& t = tensors[k];
    std::string line = fmt::format("output {:<20} {:<8} {}", g.outputs[k].name, scalar_type_name(t.scalar_type()),
                                   ir::shape_string(t.sizes()));
    if (at::isFloatingType(t.scalar_type()) && t.numel())
      line += fmt::format("  min {:.4g} max {:.4g} mean {:.4g}", t.min().item<double>(), t.max().item<double>(),
                          t.to(at::kDouble).mean().item<double>());
    if (!out_dir.empty()) line += "  -> " + paths[k];
    std::cout << line << "\n";
  }
  std::cout << fmt::format("ran {} nodes in {:.2f} ms{}\n", g.nodes.size(), ms,
                           times_ms.size() > 1 ? fmt::format(" (median of {} runs)", times_ms.size()) : "");
  return 0;
}

}  // namespace

Action add_run_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("run", "Run a model on .npy inputs and write one .npy per output");
  auto args = std::make_shared<RunArgs>();
  cmd->add_option("model", args->model, "ONNX model file or .pare package")->required();
  cmd->add_option("--input,-i", args->inputs, "NAME=FILE.npy (or FILE.npy for a single-input model)");
  cmd->add_option("--out,-o,--output-dir", args->out_dir,
                  "folder for the outputs, one NAME.npy each (created if missing)");
  cmd->add_option("--threads", args->threads, "compute threads (0: one per core)");
  cmd->add_option("--repeat", args->repeat, "run N times and report the median latency (first run excluded when N > 1)")
      ->check(CLI::Range(1, 100000));
  cmd->add_flag("--nchw", args->nchw, "compute convolutions in NCHW memory format instead of channels-last");
  return [args]() {
    try {
      return run_model(*args);
    } catch (Error& e) {
      if (e.file_path().empty()) e.file(args->model);  // executor and op errors name the node; add the model
      throw;
    }
  };
}

}  // namespace pare::cli
