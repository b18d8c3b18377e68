// Test helper for the ONNX Runtime cross-check: runs a model in pare's executor on .npy inputs, writes one .npy
// per output (named as `pare run` names them), and re-exports the loaded graph with io::save_onnx so that ONNX
// Runtime can run pare's export. usage: pare_run_resave MODEL OUT_DIR RESAVED.onnx NAME=FILE.npy...
#include <ATen/Parallel.h>

#include <cctype>
#include <filesystem>
#include <iostream>
#include <string>

#include "pare/error.h"
#include "pare/exec/executor.h"
#include "pare/exec/threads.h"
#include "pare/io/npy.h"
#include "pare/io/onnx_export.h"
#include "pare/io/onnx_import.h"

namespace {

std::string file_name_for(const std::string& value) {
  std::string s;
  for (char c : value) s += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '_';
  return s + ".npy";
}

int run(int argc, char** argv) {
  if (argc < 5) {
    std::cerr << "usage: pare_run_resave MODEL OUT_DIR RESAVED.onnx NAME=FILE.npy...\n";
    return 2;
  }
  namespace fs = std::filesystem;
  pare::exec::set_threads(2);
  const std::string model = argv[1], out_dir = argv[2], resaved = argv[3];
  pare::ir::Graph g = pare::io::load_onnx(model);
  pare::exec::TensorMap feeds;
  for (int i = 4; i < argc; ++i) {
    const std::string spec = argv[i];
    const auto eq = spec.find('=');
    if (eq == std::string::npos) throw pare::Error("input '" + spec + "' is not NAME=FILE.npy");
    feeds[spec.substr(0, eq)] = pare::io::load_npy(spec.substr(eq + 1));
  }
  pare::exec::Executor ex(g);
  const pare::exec::TensorMap out = ex.run(feeds);
  fs::create_directories(out_dir);
  for (const auto& o : g.outputs)
    pare::io::save_npy(out.at(o.name), (fs::path(out_dir) / file_name_for(o.name)).string());
  pare::io::save_onnx(g, resaved, {}, {model});
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const pare::Error& e) {
    std::cerr << "pare_run_resave: error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "pare_run_resave: internal error: " << e.what() << "\n";
    return 1;
  }
}
