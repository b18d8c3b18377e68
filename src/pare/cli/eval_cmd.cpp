// `pare eval MODEL --data SPEC [--json FILE]`: top-1/top-5 accuracy, loss, per-class accuracy, throughput.
#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <memory>

#include "pare/blocks/model_data.h"
#include "pare/cli/command.h"
#include "pare/data/dataset.h"
#include "pare/error.h"
#include "pare/exec/inference_setup.h"
#include "pare/exec/threads.h"
#include "pare/io/atomic_file.h"
#include "pare/io/onnx_import.h"
#include "pare/io/pare_package.h"
#include "pare/report/progress.h"
#include "pare/train/evaluate.h"

namespace pare::cli {

Action add_eval_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "Measure classification accuracy of a model on a dataset");
  auto model = std::make_shared<std::string>();
  auto spec = std::make_shared<std::string>("fmnist:test");
  auto json = std::make_shared<std::string>();
  auto batch = std::make_shared<int64_t>(256);
  auto threads = std::make_shared<int>(0);
  auto quiet = std::make_shared<bool>(false);
  cmd->add_option("model", *model, "ONNX model file or .pare package")->required();
  cmd->add_option("--data", *spec,
                  "dataset spec: fmnist:test, fmnist:train, npy:DIR, npz:FILE.npz, folder:DIR (DIR/<class>/<image>), "
                  "each with optional :COUNT[:SEED]");
  cmd->add_option("--json", *json, "also write the results as JSON to this file");
  cmd->add_option("--batch-size", *batch, "samples per batch")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--threads", *threads, "compute threads (0: one per core)");
  cmd->add_flag("--quiet", *quiet, "no progress output");
  return [=]() {
    exec::set_threads(*threads);
    // Everything that can fail on bad input is checked before the long part starts.
    const data::DatasetSpec ds = data::DatasetSpec::parse(*spec);
    io::check_output_path(*json, {*model}, "--json");
    ir::Graph g = io::load_model(*model);
    exec::Executor ex(g, exec::prepare_for_inference(g));
    // Image folders are decoded to the model's input: channels and crop from its first input [N, C, H, W].
    data::Dataset d = data::load_dataset(ds, {}, blocks::image_transform_for(g));
    // The bar starts with the first batch, after evaluate's checks of the data against the model.
    std::unique_ptr<report::Progress> bar;
    train::EvalOptions options;
    options.batch_size = *batch;
    options.progress = [&](int64_t done, int64_t total) {
      if (!bar) bar = std::make_unique<report::Progress>("eval", total, *quiet);
      bar->update(done);
    };
    train::EvalResult r = train::evaluate(ex, d, options);
    if (bar) bar->finish(fmt::format("top-1 {:.2f} %", r.top1));
    fmt::print("model      {}\ndata       {}, {} samples\n", *model, ds.text, r.samples);
    fmt::print("top-1      {:.2f} %\ntop-5      {:.2f} %\nloss       {:.4f}\n", r.top1, r.top5, r.loss);
    std::string per_class;
    for (size_t c = 0; c < r.per_class_top1.size(); ++c)
      per_class += fmt::format("{}{}:{:.1f}", c ? " " : "", c, r.per_class_top1[c]);
    fmt::print("per class  {}\nspeed      {:.0f} samples/s ({:.2f} s)\n", per_class, r.samples_per_second(), r.seconds);
    if (!json->empty()) {
      nlohmann::json j = r.to_json();
      j["model"] = *model;
      j["data"] = ds.text;
      io::write_atomic(*json, [&](std::ostream& out) { out << j.dump(2) << "\n"; }, {*model});
    }
    return 0;
  };
}

}  // namespace pare::cli
