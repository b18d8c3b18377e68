// `pare quantize MODEL --method rtn --wbits 4 --abits 8 [--calib SPEC] [--eval SPEC] --out OUT.onnx|OUT.pare`:
// parses flags into a recipe, runs the library's pipeline (quant/quantize_model.h for ONNX graphs,
// llm/llama_quantize.h for Llamas), prints a per-layer table and a summary. Method flags come from the
// registry (method_flags.h); `--list-methods [--json]` prints it.
#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "pare/blocks/model_data.h"
#include "pare/cli/command.h"
#include "pare/cli/interrupt.h"
#include "pare/cli/method_flags.h"
#include "pare/data/dataset.h"
#include "pare/error.h"
#include "pare/exec/inference_setup.h"
#include "pare/exec/threads.h"
#include "pare/io/atomic_file.h"
#include "pare/io/gguf.h"
#include "pare/io/onnx_export.h"
#include "pare/io/onnx_import.h"
#include "pare/ir/passes/fold_batchnorm.h"
#include "pare/llm/calibration_text.h"
#include "pare/llm/llama_package.h"
#include "pare/llm/llama_quantize.h"
#include "pare/llm/model_loader.h"
#include "pare/llm/model_tokenizer.h"
#include "pare/quant/export/package_export.h"
#include "pare/quant/export/qdq_export.h"
#include "pare/quant/quantize_model.h"
#include "pare/report/progress.h"
#include "pare/train/evaluate.h"

namespace pare::cli {
namespace {

struct QuantizeArgs {
  std::string model, out, recipe, calib, eval, json, method, granularity, weight_scale, observer, act_granularity;
  std::string first_last;
  int wbits = 8, abits = 8, threads = 0;
  bool asymmetric = false, dry_run = false, quiet = false, list_methods = false;
  int64_t batch = 256;
  uint64_t seed = 0;
  std::vector<std::string> exclude;
  std::unique_ptr<MethodFlags> method_flags;
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_llm_input(const std::string& path) {
  namespace fs = std::filesystem;
  return fs::is_directory(path) || io::is_gguf(path) || llm::is_llama_package(path);
}

// The common flags the user gave, as recipe keys (the method's own come from MethodFlags).
nlohmann::json common_overrides(const QuantizeArgs& a, const CLI::App& cmd) {
  nlohmann::json j = nlohmann::json::object();
  auto given = [&](const char* flag) { return cmd.count(flag) > 0; };
  if (given("--method")) j["method"] = a.method;
  if (given("--wbits")) j["wbits"] = a.wbits;
  if (given("--abits")) j["abits"] = a.abits;
  if (given("--granularity")) j["granularity"] = a.granularity;
  if (given("--asymmetric")) j["weight_grid"] = "asymmetric";
  if (given("--weight-scale")) j["weight_scale"] = a.weight_scale;
  if (given("--observer")) j["activation_observer"] = a.observer;
  if (given("--first-last")) j["first_last"] = a.first_last;
  if (given("--act-granularity")) j["activation_granularity"] = a.act_granularity;
  if (given("--exclude")) j["exclude"] = a.exclude;
  return j;
}

train::EvalResult evaluate_graph(ir::Graph g, const data::Dataset& d, const std::string& label, bool quiet,
                                 int64_t batch) {
  exec::Executor ex(g, exec::prepare_for_inference(g));
  report::Progress bar(label, d.size(), quiet);
  train::EvalOptions o;
  o.batch_size = batch;
  o.progress = [&](int64_t done, int64_t) { bar.update(done); };
  train::EvalResult r = train::evaluate(ex, d, o);
  bar.finish(fmt::format("top-1 {:.2f} %", r.top1));
  return r;
}

void print_llm_result(const llm::LlamaQuantizeResult& r, const std::string& out) {
  fmt::print("{:<44} {:<16} {:<12} {:>10} {:>8}  {}\n", "weight", "grid", "granularity", "rel.error", "bits/w", "note");
  for (const auto& w : r.weights) {
    const bool q = w.at("quantized").get<bool>();
    fmt::print("{:<44} {:<16} {:<12} {:>10} {:>8.3f}  {}\n", w.at("weight").get<std::string>(),
               w.at("grid").get<std::string>(), w.value("granularity", "-"),
               q ? fmt::format("{:.2e}", w.at("relative_error").get<double>()) : "-",
               w.at("bits_per_weight").get<double>(), w.value("note", ""));
  }
  fmt::print("\nweights    {:.3f} bits/weight over the quantized layers ({} weights)\n", r.quantized_bits_per_weight,
             r.quantized_params);
  fmt::print("file       {} bytes: {:.3f} bits/weight over all {} parameters (embeddings, head, norms, scales)\n",
             r.file_bytes, r.file_bits_per_weight, r.params);
  fmt::print(
      "time       {:.1f} s{}\n", r.seconds,
      r.resumed_units ? fmt::format(" ({} of {} units resumed from an earlier run)", r.resumed_units, r.units) : "");
  fmt::print("wrote {}\n", out);
}

// The library options of a Llama quantization from the flags; the calibration text (for a method that learns)
// through the model's tokenizer, in windows of up to 512 tokens.
llm::LlamaQuantizeOptions llama_options(const QuantizeArgs& a, const quant::Recipe& recipe, const llm::LlamaModel& m) {
  llm::LlamaQuantizeOptions o;
  o.recipe = recipe;
  o.out = a.out;
  o.protected_inputs = {a.model};
  o.metadata = {{"source", a.model}};
  o.tokenizer = llm::folder_tokenizer_bytes(a.model);
  if (recipe.learns()) {
    if (a.calib.empty())
      throw Error(recipe.entry().block ? "method " + recipe.method + " learns from calibration text"
                                       : "--weight-scale imatrix weighs each input channel by calibration activations")
          .hint("pass --calib brown:train[:TOKENS]");
    const llm::Tokenizer tok = llm::model_tokenizer(a.model, "", m.config.vocab_size);
    const int64_t ctx = std::min<int64_t>(512, m.config.max_position_embeddings);
    o.calibration = llm::calibration_windows(tok, a.calib, ctx, m.config.bos_token_id);
  }
  return o;
}

// `pare quantize LLAMA --wbits 4 --granularity group:128 --out FILE.pare`: streamed block by block,
// resumable (llm/llama_quantize.h).
int quantize_llm(const QuantizeArgs& a, const quant::Recipe& recipe) {
  quant::check_method_applies(recipe, quant::ModelKind::Llama, a.model);  // before calibration text is read
  if (!a.calib.empty() && !recipe.learns())
    throw Error("method " + recipe.method + " quantizes a Llama's weights alone and takes no calibration data")
        .hint("leave --calib out (or pass --weight-scale imatrix to weigh RTN's scale search by it)");
  if (!a.eval.empty())
    throw Error("--eval is for classifiers")
        .hint("measure the result with: pare ppl OUT.pare --text brown:heldout --ref " + a.model);
  llm::LlamaModel m = llm::load_llama(a.model);
  if (a.dry_run) {
    fmt::print("{:<44} {:>5} {:<12} {}\n", "weight", "wbits", "granularity", "note");
    for (const auto& p : llm::plan_llama(m.config, recipe))
      fmt::print("{:<44} {:>5} {:<12} {}\n", p.layer.weight, p.quantize ? std::to_string(p.weight_grid.bits) : "float",
                 p.granularity.str(), p.reason);
    return 0;
  }
  llm::LlamaQuantizeOptions o = llama_options(a, recipe, m);
  const StopOnInterrupt interrupt;
  o.should_stop = [] { return StopOnInterrupt::asked(); };
  std::unique_ptr<report::Progress> bar;
  o.progress = [&](int64_t done, int64_t total) {
    if (!bar) {
      bar = std::make_unique<report::Progress>("quantize", total, a.quiet);
      if (done > 0)
        bar->message(fmt::format("resuming: {} of {} units already done in {}.partial", done, total, a.out));
    }
    bar->update(done, "embeddings, blocks, head");
  };
  const llm::LlamaQuantizeResult r = llm::quantize_llama(m, o);
  if (r.interrupted) {
    if (bar) bar->finish("interrupted");
    fmt::print(stderr, "pare: interrupted after {} of {} units; they are kept in {}.partial\n  hint: {}\n",
               r.finished_units, r.units, a.out,
               recipe.learns() ? "this method starts over when run again (it needs every block's inputs)"
                               : "run the same command again to resume");
    return 130;
  }
  if (bar) bar->finish();
  print_llm_result(r, a.out);
  if (!a.json.empty()) {
    nlohmann::json j = r.to_json();
    j["model"] = a.model;
    j["out"] = a.out;
    j["recipe"] = recipe.to_json();
    io::write_atomic(a.json, [&](std::ostream& out) { out << j.dump(2) << "\n"; }, {a.model, a.out});
  }
  return 0;
}

void print_plan(const ir::Graph& g, const quant::Recipe& recipe) {
  ir::Graph folded = g.clone();
  ir::fold_batchnorm(folded);
  const auto plans = quant::plan_layers(folded, recipe);
  fmt::print("{:<28} {:<13} {:>5} {:>5} {:<12} {}\n", "layer", "op", "wbits", "abits", "granularity", "note");
  for (const auto& p : plans)
    fmt::print("{:<28} {:<13} {:>5} {:>5} {:<12} {}\n", p.layer.node, p.layer.op_type,
               p.quantize ? std::to_string(p.weight_grid.bits) : "float", p.quantize ? p.abits : 0, p.granularity.str(),
               p.reason);
}

void print_result(const quant::QuantizeResult& r) {
  fmt::print("{:<28} {:<13} {:>5} {:>5} {:<12} {:>10} {:>10}  {}\n", "layer", "op", "wbits", "abits", "granularity",
             "rel.error", "bytes", "note");
  for (const auto& row : r.layer_table()) {
    const bool q = row["quantized"].get<bool>();
    fmt::print("{:<28} {:<13} {:>5} {:>5} {:<12} {:>10} {:>10.0f}  {}\n", row["node"].get<std::string>(),
               row["op"].get<std::string>(), q ? std::to_string(row["wbits"].get<int>()) : "float",
               q ? std::to_string(row["abits"].get<int>()) : "-", q ? row["granularity"].get<std::string>() : "-",
               q ? fmt::format("{:.2e}", row["relative_error"].get<double>()) : "-", row["bytes"].get<double>(),
               row.value("note", ""));
  }
  fmt::print("\nweights    {:.3f} bits/weight over the quantized layers ({:.0f} weights)\n", r.bits_per_weight(),
             r.totals.weights);
  for (const auto& line : r.notes) fmt::print("{}\n", line);
  if (r.bops_note.empty())
    fmt::print("compute    {:.3g} MACs, {:.4g} GBOPs per sample ({:.3f}x the same layers at 8-bit weights)\n",
               r.bops.macs, r.bops.bops / 1e9, r.bops.relative());
  else
    fmt::print("compute    {}\n", r.bops_note);
  fmt::print("packed     {:.0f} bytes with codes at their bit width (float: {:.0f} bytes, {:.2f}x smaller)\n",
             std::ceil(r.model_bits / 8), std::ceil(r.float_bits / 8), r.float_bits / std::max(1.0, r.model_bits));
}

// The file's real size; QDQ ONNX cannot pack codes below 8 bits (ONNX INT4 needs opset 21), so say so.
void print_written(const std::string& out, int64_t file_bytes, const quant::QuantizeResult& r) {
  fmt::print("wrote {} ({} bytes on disk)\n", out, file_bytes);
  bool low_bits = false;
  for (const auto& l : r.layers) low_bits |= l.plan.quantize && l.weight.main.grid.bits < 8;
  if (ends_with(out, ".onnx") && low_bits)
    fmt::print(
        "note       QDQ ONNX stores codes below 8 bits as int8, so the file is larger than the packed size; "
        "a .pare package (--out FILE.pare) packs them\n");
}

// Output paths and formats, checked before the model is even read.
void check_outputs(const QuantizeArgs& a, bool llm_input) {
  if (llm_input) {
    if (a.out.empty()) throw Error("no output file").hint("pass --out FILE.pare");
    if (!ends_with(a.out, ".pare"))
      throw Error("a quantized Llama is written as a .pare package")
          .file(a.out)
          .expected("a file name ending in .pare");
  } else if (a.out.empty() && a.eval.empty()) {
    throw Error("nothing to do: no --out and no --eval")
        .hint("pass --out FILE.onnx to export, --eval SPEC to measure, or --dry-run to see the plan");
  } else if (!a.out.empty() && !ends_with(a.out, ".onnx") && !ends_with(a.out, ".pare")) {
    throw Error("unknown output format").file(a.out).expected("a file name ending in .onnx or .pare");
  }
  io::check_output_path(a.out, {a.model}, "--out");
  io::check_output_path(a.json, {a.model, a.out}, "--json");
  if (!a.json.empty() && a.json == a.out) throw Error("--json and --out name the same file").file(a.out);
}

// The datasets of --calib and --eval, decoded to the model's input and checked against it.
std::pair<std::optional<data::Dataset>, std::optional<data::Dataset>> load_data(const QuantizeArgs& a,
                                                                                const ir::Graph& g) {
  std::optional<data::DatasetSpec> calib_spec, eval_spec;
  if (!a.calib.empty()) calib_spec = data::DatasetSpec::parse(a.calib);
  if (!a.eval.empty()) eval_spec = data::DatasetSpec::parse(a.eval);
  const data::ImageTransform transform = blocks::image_transform_for(g);
  std::optional<data::Dataset> calib, eval;
  if (calib_spec) calib = data::load_dataset(*calib_spec, {}, transform);
  if (eval_spec) eval = data::load_dataset(*eval_spec, {}, transform);
  if (calib) blocks::check_samples_fit(g, *calib, /*need_labels=*/false);
  if (eval) {
    ir::Graph probe = g.clone();
    exec::Executor ex(probe);
    blocks::check_labels_fit(ex, *eval);
  }
  return {std::move(calib), std::move(eval)};
}

int quantize_onnx(const QuantizeArgs& a, const quant::Recipe& recipe) {
  const ir::Graph g = io::load_onnx(a.model);
  if (a.dry_run) {
    print_plan(g, recipe);
    return 0;
  }
  if (ends_with(a.out, ".onnx")) quant::check_qdq_export(g, recipe);
  auto [calib, eval] = load_data(a, g);
  quant::QuantizeOptions qo;
  qo.recipe = recipe;
  qo.calib = calib ? &*calib : nullptr;
  qo.calibration.observer = quant::parse_observer(recipe.activation_observer);
  qo.calibration.batch_size = a.batch;
  qo.calibration.seed = a.seed;
  // pare feeds images as pixels / 255 (data/dataset.h): that bounds the input a data-free model assumes.
  if (!g.inputs.empty() && g.inputs[0].shape && g.inputs[0].shape->size() == 4) qo.input_range = {{0.0, 1.0}};
  std::unique_ptr<report::Progress> calib_bar;
  qo.calib_progress = [&](int64_t done, int64_t total) {
    if (!calib_bar) calib_bar = std::make_unique<report::Progress>("calibrate", total, a.quiet);
    calib_bar->update(done);
    if (done == total) calib_bar->finish();
  };
  const quant::QuantizeResult r = quant::quantize_model(g, qo);
  // Refuse before evaluating when the result has no QDQ form.
  std::optional<ir::Graph> exported;
  if (ends_with(a.out, ".onnx")) {
    exported = quant::to_qdq_graph(r.qdq, r.layers, r.biases);
    exported->metadata["pare.quantize"] = recipe.to_json().dump();
  }
  std::optional<train::EvalResult> before, after;
  if (eval) {
    before = evaluate_graph(r.folded, *eval, "eval float", a.quiet, a.batch);
    after = evaluate_graph(r.fake, *eval, "eval quantized", a.quiet, a.batch);
  }
  print_result(r);
  if (before && after)
    fmt::print("accuracy   top-1 {:.2f} % -> {:.2f} % ({:+.2f} points) on {}\n", before->top1, after->top1,
               after->top1 - before->top1, a.eval);
  if (exported) io::save_onnx(*exported, a.out, {}, {a.model});
  if (ends_with(a.out, ".pare"))
    io::save_package(a.out, r.qdq, quant::package_weights(r.layers), recipe.to_json(), {a.model});
  const int64_t file_bytes = a.out.empty() ? 0 : static_cast<int64_t>(std::filesystem::file_size(a.out));
  if (!a.out.empty()) print_written(a.out, file_bytes, r);
  if (a.json.empty()) return 0;
  nlohmann::json j = r.to_json();
  j["model"] = a.model;
  if (!a.out.empty()) j["out"] = a.out, j["file_bytes"] = file_bytes;
  if (calib) j["calib"] = a.calib;
  if (before && after) {
    j["eval"] = a.eval;
    j["accuracy"] = {{"before", before->top1}, {"after", after->top1}};
    j["top5"] = {{"before", before->top5}, {"after", after->top5}};
  }
  io::write_atomic(a.json, [&](std::ostream& out) { out << j.dump(2) << "\n"; }, {a.model, a.out});
  return 0;
}

void add_common_flags(CLI::App* cmd, QuantizeArgs& a) {
  cmd->add_option("model", a.model, "ONNX model file, or a Llama (Hugging Face folder or .gguf)");
  cmd->add_option("--out,-o", a.out,
                  "output: FILE.onnx (QDQ ONNX) or FILE.pare (package, any grid); none: evaluate only");
  cmd->add_flag("--list-methods", a.list_methods, "list the quantization methods, their data needs and options");
  cmd->add_option("--method", a.method, "quantization method (--list-methods shows them; docs/methods/)");
  cmd->add_option("--recipe", a.recipe, "JSON recipe (flags given on the command line override its values)");
  cmd->add_option("--wbits", a.wbits, "weight bits, 2..8");
  cmd->add_option("--abits", a.abits, "activation bits, 2..8 (0: float activations)");
  cmd->add_option("--granularity", a.granularity, "weight scales: tensor, channel or group:G");
  cmd->add_flag("--asymmetric", a.asymmetric, "weights with a zero point (default: symmetric)");
  cmd->add_option("--weight-scale", a.weight_scale,
                  "weight scale choice: minmax, mse, percentile or imatrix (mse weighted by calibration activations; "
                  "needs --calib)");
  cmd->add_option("--observer", a.observer, "activation observer: minmax, moving_average, percentile, mse, entropy");
  cmd->add_option("--act-granularity", a.act_granularity, "activation scales: tensor or channel (static per channel)");
  cmd->add_option("--first-last", a.first_last, "first and last layer: same, int8 or float");
  cmd->add_option("--exclude", a.exclude, "keep layers matching this regex (node or weight name) in float");
  cmd->add_option("--calib", a.calib, "calibration data spec, e.g. fmnist:train:512 (needed when --abits > 0)");
  cmd->add_option("--eval", a.eval, "evaluate before and after on this dataset spec, e.g. fmnist:test");
  cmd->add_option("--batch-size", a.batch, "samples per batch for calibration and evaluation")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--seed", a.seed, "seed of the calibration sample reservoir");
  cmd->add_option("--json", a.json,
                  "write results (accuracy, size, per-layer table) as JSON to this file; with --list-methods, "
                  "print the methods as JSON")
      ->expected(0, 1);
  cmd->add_option("--threads", a.threads, "compute threads (0: one per core)");
  cmd->add_flag("--dry-run", a.dry_run, "print the per-layer plan and stop");
  cmd->add_flag("--quiet", a.quiet, "no progress output");
}

}  // namespace

Action add_quantize_command(CLI::App& app, const quant::MethodRegistry& methods) {
  auto* cmd = app.add_subcommand("quantize", "Quantize a model's weights and activations and export it");
  auto a = std::make_shared<QuantizeArgs>();
  add_common_flags(cmd, *a);
  a->method_flags = std::make_unique<MethodFlags>(*cmd, methods);
  return [a, cmd, &methods]() {
    if (a->list_methods) {
      std::cout << list_methods(methods, cmd->count("--json") > 0);
      return 0;
    }
    if (a->model.empty()) throw Error("no model given").hint("pare quantize MODEL.onnx --wbits 4 --out OUT.pare");
    if (cmd->count("--json") > 0 && a->json.empty())
      throw Error("--json needs a file name").hint("--json FILE.json (a bare --json goes with --list-methods)");
    exec::set_threads(a->threads);
    // Every check on the input runs before calibration starts.
    nlohmann::json overrides = common_overrides(*a, *cmd);
    overrides.update(a->method_flags->overrides());
    const bool llm_input = is_llm_input(a->model);
    // A Llama is quantized weights-only unless asked otherwise (and then refused with a reason).
    const nlohmann::json defaults = llm_input ? nlohmann::json{{"abits", 0}} : nlohmann::json::object();
    const quant::Recipe recipe = quant::Recipe::compose(defaults, a->recipe, overrides, methods);
    if (!a->dry_run) check_outputs(*a, llm_input);
    if (!a->calib.empty() && recipe.data_free())
      throw Error("method " + recipe.method + " is data-free: it takes no calibration data")
          .got("--calib " + a->calib)
          .hint("leave --calib out");
    return llm_input ? quantize_llm(*a, recipe) : quantize_onnx(*a, recipe);
  };
}

}  // namespace pare::cli
