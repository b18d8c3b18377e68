// `pare train MODEL --data SPEC [--val SPEC] --epochs N --out OUT.onnx`: trains any ONNX classifier whose
// ops have autograd and writes it back with the same graph and input/output names. MODEL may also be a
// Hugging Face Llama folder: it is trained on next-token windows of a text (--data brown:train, text:FILE)
// and written as a folder (config.json, model.safetensors, tokenizer.model).
#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <filesystem>

#include "pare/blocks/model_data.h"
#include "pare/cli/command.h"
#include "pare/cli/interrupt.h"
#include "pare/data/dataset.h"
#include "pare/error.h"
#include "pare/exec/threads.h"
#include "pare/io/atomic_file.h"
#include "pare/io/onnx_export.h"
#include "pare/io/onnx_import.h"
#include "pare/llm/llama_graph.h"
#include "pare/llm/lm_dataset.h"
#include "pare/llm/model_loader.h"
#include "pare/llm/model_tokenizer.h"
#include "pare/train/trainer.h"

namespace pare::cli {

namespace {

struct TrainArgs {
  std::string model, out, data = "fmnist:train", val, json, checkpoint, augment = "none", optimizer = "sgd";
  std::string schedule = "cosine", dtype = "f16";
  int64_t epochs = 10, batch = 128, max_steps = 0, ctx = 256;
  double lr = 0.1, min_lr = 0, momentum = 0.9, wd = 0, warmup = 0, smoothing = 0, clip = 0;
  double beta1 = 0.9, beta2 = 0.999;
  bool nesterov = false, resume = false, channels_last = false, quiet = false;
  uint64_t seed = 0;
  int threads = 0;
};

// Returns the --data option: a Llama has no default text, so it must have been given.
const CLI::Option* add_train_flags(CLI::App* cmd, TrainArgs* a) {
  cmd->add_option("model", a->model,
                  "ONNX model, or Hugging Face Llama folder, to train (untouched; the result goes to --out)")
      ->required();
  cmd->add_option("--out,-o", a->out, "trained ONNX model to write (Llama: output folder)")->required();
  auto* data_opt = cmd->add_option("--data", a->data,
                                   "training set spec: fmnist:train, npy:DIR, npz:FILE.npz, folder:DIR, each with "
                                   "optional :COUNT[:SEED]; Llama: a text (brown:train, text:FILE)");
  cmd->add_option("--val", a->val,
                  "validation set spec, evaluated after every epoch (e.g. fmnist:test; Llama: brown:valid)");
  cmd->add_option("--ctx", a->ctx, "Llama: tokens per training window")
      ->check(CLI::Range(int64_t{2}, int64_t{1} << 20));
  cmd->add_option("--dtype", a->dtype, "Llama: storage of the trained weights, f16, bf16 or f32")
      ->check(CLI::IsMember({"f16", "bf16", "f32"}));
  cmd->add_option("--epochs", a->epochs, "epochs to train")->check(CLI::Range(int64_t{1}, int64_t{100000}));
  cmd->add_option("--batch-size", a->batch, "samples per step")->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  cmd->add_option("--optimizer", a->optimizer, "sgd or adamw")->check(CLI::IsMember({"sgd", "adamw"}));
  cmd->add_option("--lr", a->lr, "peak learning rate");
  cmd->add_option("--min-lr", a->min_lr, "learning rate at the end of the cosine schedule");
  cmd->add_option("--schedule", a->schedule, "cosine or constant (after warm-up)")
      ->check(CLI::IsMember({"cosine", "constant"}));
  cmd->add_option("--warmup-epochs", a->warmup, "linear warm-up length in epochs (fractions allowed)");
  cmd->add_option("--momentum", a->momentum, "SGD momentum");
  cmd->add_flag("--nesterov", a->nesterov, "Nesterov momentum (SGD)");
  cmd->add_option("--beta1", a->beta1, "AdamW beta1");
  cmd->add_option("--beta2", a->beta2, "AdamW beta2");
  cmd->add_option("--weight-decay", a->wd, "weight decay on conv/linear weights (not on norms and biases)");
  cmd->add_option("--label-smoothing", a->smoothing, "label smoothing of the cross-entropy target");
  cmd->add_option("--clip-grad-norm", a->clip, "clip the global gradient norm to this (0: off)");
  cmd->add_option("--augment", a->augment, "none, or a comma list of crop:P and hflip (e.g. crop:2,hflip)");
  cmd->add_option("--seed", a->seed, "seed of shuffling, augmentation and dropout");
  cmd->add_option("--checkpoint", a->checkpoint, "checkpoint file written every epoch (default: OUT.ckpt)");
  cmd->add_flag("--resume", a->resume, "continue from the checkpoint");
  cmd->add_option("--max-steps", a->max_steps, "stop after this many steps (benchmarks)");
  cmd->add_flag("--channels-last", a->channels_last, "run 2-D convolutions in NHWC layout");
  cmd->add_option("--threads", a->threads, "compute threads (0: one per core)");
  cmd->add_option("--json", a->json, "write the training history and throughput as JSON");
  cmd->add_flag("--quiet", a->quiet, "no progress output");
  return data_opt;
}

// What training runs on: the graph and its data sets; for a Llama also the model and its tokenizer file.
struct TrainInputs {
  ir::Graph g;
  data::Dataset train_set;
  std::optional<data::Dataset> val_set;
  std::optional<llm::LlamaModel> lm;
  std::string tokenizer_file;
};

// A Llama folder, trained on next-token windows of a text.
TrainInputs load_llama_inputs(const TrainArgs& a, bool data_given) {
  if (!data_given) throw Error("training a Llama needs a text").hint("give --data brown:train (or text:FILE)");
  TrainInputs in;
  in.lm = llm::load_llama(a.model);
  const llm::Tokenizer tok = llm::model_tokenizer(a.model, "", in.lm->config.vocab_size);
  in.tokenizer_file = tok.source();
  if (a.ctx > in.lm->config.max_position_embeddings)
    throw Error("--ctx exceeds the model's max_position_embeddings")
        .file(a.model)
        .got(fmt::format("{} > {}", a.ctx, in.lm->config.max_position_embeddings));
  const auto windows = [&](const std::string& spec) {
    llm::TokenStream ts = llm::load_token_stream(llm::text_argument(spec), tok);
    return llm::lm_windows(ts.ids, a.ctx, in.lm->config.vocab_size, spec);
  };
  in.train_set = windows(a.data);
  if (!a.val.empty()) in.val_set = windows(a.val);
  in.g = llm::llama_graph(in.lm->config, in.lm->weights);
  return in;
}

TrainInputs load_onnx_inputs(const TrainArgs& a) {
  const data::DatasetSpec train_spec = data::DatasetSpec::parse(a.data);
  std::optional<data::DatasetSpec> val_spec;
  if (!a.val.empty()) val_spec = data::DatasetSpec::parse(a.val);
  TrainInputs in;
  in.g = io::load_onnx(a.model);
  // Image folders are decoded to the model's input size and channels.
  const data::ImageTransform transform = blocks::image_transform_for(in.g);
  in.train_set = data::load_dataset(train_spec, {}, transform);
  if (val_spec) in.val_set = data::load_dataset(*val_spec, {}, transform);
  return in;
}

// The flags as options (all but augment, should_stop and on_ready).
void set_train_options(const TrainArgs& a, train::TrainOptions& o) {
  o.epochs = a.epochs;
  o.batch_size = a.batch;
  o.optimizer.kind = a.optimizer;
  o.optimizer.momentum = a.optimizer == "sgd" ? a.momentum : 0.0;
  o.optimizer.nesterov = a.nesterov;
  o.optimizer.weight_decay = a.wd;
  o.optimizer.beta1 = a.beta1;
  o.optimizer.beta2 = a.beta2;
  o.lr = a.lr;
  o.min_lr = a.min_lr;
  o.schedule = a.schedule;
  o.warmup_epochs = a.warmup;
  o.label_smoothing = a.smoothing;
  o.clip_grad_norm = a.clip;
  o.seed = a.seed;
  o.max_steps = a.max_steps;
  o.channels_last = a.channels_last;
  o.checkpoint = a.checkpoint.empty() ? a.out + ".ckpt" : a.checkpoint;
  o.resume = a.resume;
  o.quiet = a.quiet;
}

// Runs train::fit with Ctrl-C asking it to checkpoint and stop. `wall_start`: when the run started.
train::TrainResult fit_interruptible(TrainInputs& in, const train::TrainOptions& o,
                                     std::chrono::steady_clock::time_point& wall_start) {
  const StopOnInterrupt interrupt;
  wall_start = std::chrono::steady_clock::now();
  return train::fit(in.g, in.train_set, in.val_set ? &*in.val_set : nullptr, o);
}

// The --json document: the run's history and throughput, what it trained on and with which options.
nlohmann::json run_json(const TrainArgs& a, const train::TrainOptions& o, const train::TrainResult& r, bool has_val,
                        bool is_llm, std::chrono::steady_clock::time_point wall_start) {
  nlohmann::json j = r.to_json();
  // Everything the run took: training steps, validation, checkpoints (train.seconds counts steps only).
  j["wall_seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  j["model"] = a.model;
  j["data"] = a.data;
  if (has_val) j["val"] = a.val;
  j["options"] = o.to_json();
  j["options"]["ctx"] = is_llm ? nlohmann::json(a.ctx) : nlohmann::json(nullptr);
  j["options"]["threads"] = at::get_num_threads();
  return j;
}

bool has_val_result(const train::TrainResult& r) { return !r.history.empty() && r.history.back().val_top1 >= 0; }

// How the model was trained, stored with it: the options, the data and the last validation.
nlohmann::json train_record(const TrainArgs& a, const nlohmann::json& j, const train::TrainResult& r) {
  nlohmann::json record = j.at("options");
  record["data"] = a.data;
  if (has_val_result(r)) {
    record["val"] = a.val;
    record["val_top1"] = r.history.back().val_top1;
    record["val_loss"] = r.history.back().val_loss;
  }
  return record;
}

// A Llama folder: config.json, model.safetensors, tokenizer.model and the record as pare_train.json.
void write_llama(const TrainArgs& a, const TrainInputs& in, const nlohmann::json& record, const train::TrainResult& r) {
  const at::ScalarType st = a.dtype == "f16" ? at::kHalf : a.dtype == "bf16" ? at::kBFloat16 : at::kFloat;
  llm::save_llama_folder(a.out, in.lm->config, llm::llama_weights(in.g, in.lm->config), st);
  const std::string tok_out = (std::filesystem::path(a.out) / "tokenizer.model").string();
  if (!std::filesystem::equivalent(std::filesystem::path(in.tokenizer_file).parent_path(), a.out))
    std::filesystem::copy_file(in.tokenizer_file, tok_out, std::filesystem::copy_options::overwrite_existing);
  io::write_atomic((std::filesystem::path(a.out) / "pare_train.json").string(),
                   [&](std::ostream& out) { out << record.dump(2) << "\n"; });
  fmt::print("wrote {}", a.out);
  if (has_val_result(r))
    fmt::print(" (val loss {:.4f}, perplexity {:.2f} on {})", r.history.back().val_loss,
               std::exp(r.history.back().val_loss), a.val);
  fmt::print("\n");
}

// The ONNX model: same graph, same names, with the record in its metadata.
void write_onnx(const TrainArgs& a, ir::Graph& g, const nlohmann::json& record, const train::TrainResult& r) {
  g.metadata["pare.train"] = record.dump();
  io::save_onnx(g, a.out, {}, {a.model});
  fmt::print("wrote {}", a.out);
  if (has_val_result(r)) fmt::print(" (val top-1 {:.2f} % on {})", r.history.back().val_top1, a.val);
  fmt::print("\n");
}

// Returns the exit code: 0, or 130 when interrupted (no --out then).
int run_train(const TrainArgs& a, bool data_given) {
  exec::set_threads(a.threads);
  const bool is_llm = std::filesystem::is_directory(a.model);
  // All checks on the input come first; training starts only when everything fits.
  io::check_output_path(a.out, {a.model}, "--out", /*folder=*/is_llm);
  io::check_output_path(a.json, {a.model, a.out}, "--json");
  train::TrainOptions o;
  o.augment = train::AugmentOptions::parse(a.augment);
  TrainInputs in = is_llm ? load_llama_inputs(a, data_given) : load_onnx_inputs(a);
  set_train_options(a, o);
  io::check_output_path(o.checkpoint, {a.model, a.out}, "--checkpoint");
  o.should_stop = [] { return StopOnInterrupt::asked(); };
  o.on_ready = [&](int64_t steps) {
    fmt::print(stderr, "train {} on {}: {} samples, {} epochs of {} steps, {} threads\n", a.model, a.data,
               in.train_set.size(), o.epochs, steps, at::get_num_threads());
    if (!a.resume && std::filesystem::exists(o.checkpoint))
      fmt::print(stderr, "note: {} exists and will be replaced (use --resume to continue from it)\n", o.checkpoint);
  };

  std::chrono::steady_clock::time_point wall_start;
  const train::TrainResult r = fit_interruptible(in, o, wall_start);
  const nlohmann::json j = run_json(a, o, r, in.val_set.has_value(), is_llm, wall_start);
  if (!a.json.empty()) io::write_atomic(a.json, [&](std::ostream& out) { out << j.dump(2) << "\n"; }, {a.model});
  if (r.interrupted) return 130;  // the checkpoint holds the progress; no half-trained --out

  // The trained model: same graph, same names, with a record of how it was trained.
  const nlohmann::json record = train_record(a, j, r);
  if (is_llm)
    write_llama(a, in, record, r);
  else
    write_onnx(a, in.g, record, r);
  return 0;
}

}  // namespace

Action add_train_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "Train a classifier (any ONNX graph with autograd ops)");
  auto a = std::make_shared<TrainArgs>();
  const CLI::Option* data_opt = add_train_flags(cmd, a.get());
  return [a, data_opt]() { return run_train(*a, data_opt->count() > 0); };
}

}  // namespace pare::cli
