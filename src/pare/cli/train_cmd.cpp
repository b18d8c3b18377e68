// `pare train MODEL --data SPEC [--val SPEC] --epochs N --out OUT.onnx`: trains any ONNX classifier whose
// ops have autograd and writes it back with the same graph and input/output names. MODEL may also be a
// Hugging Face Llama folder: it is trained on next-token windows of a text (--data brown:train, text:FILE)
// and written as a folder (config.json, model.safetensors, tokenizer.model).
#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>

#include "pare/cli/command.h"
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
std::atomic<bool> g_stop{false};
extern "C" void on_sigint(int) {
  if (g_stop.exchange(true)) std::_Exit(130);  // a second Ctrl-C leaves at once
}
}  // namespace

Action add_train_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "Train a classifier (any ONNX graph with autograd ops)");
  struct Args {
    std::string model, out, data = "fmnist:train", val, json, checkpoint, augment = "none", optimizer = "sgd";
    std::string schedule = "cosine", dtype = "f16";
    int64_t epochs = 10, batch = 128, max_steps = 0, ctx = 256;
    double lr = 0.1, min_lr = 0, momentum = 0.9, wd = 0, warmup = 0, smoothing = 0, clip = 0;
    double beta1 = 0.9, beta2 = 0.999;
    bool nesterov = false, resume = false, channels_last = false, quiet = false;
    uint64_t seed = 0;
    int threads = 0;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("model", a->model,
                  "ONNX model, or Hugging Face Llama folder, to train (untouched; the result goes to --out)")
      ->required();
  cmd->add_option("--out", a->out, "trained ONNX model to write (Llama: output folder)")->required();
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
  return [a, data_opt]() {
    exec::set_threads(a->threads);
    const bool is_llm = std::filesystem::is_directory(a->model);
    // All checks on the input come first; training starts only when everything fits.
    io::refuse_overwrite(a->out, {a->model});
    if (!a->json.empty()) io::refuse_overwrite(a->json, {a->model, a->out});
    train::TrainOptions o;
    o.augment = train::AugmentOptions::parse(a->augment);
    ir::Graph g;
    data::Dataset train_set;
    std::optional<data::Dataset> val_set;
    std::optional<llm::LlamaModel> lm;
    std::string tokenizer_file;
    if (is_llm) {
      if (data_opt->count() == 0)
        throw Error("training a Llama needs a text").hint("give --data brown:train (or text:FILE)");
      lm = llm::load_llama(a->model);
      const llm::Tokenizer tok = llm::model_tokenizer(a->model, "", lm->config.vocab_size);
      tokenizer_file = tok.source();
      if (a->ctx > lm->config.max_position_embeddings)
        throw Error("--ctx exceeds the model's max_position_embeddings")
            .file(a->model)
            .got(fmt::format("{} > {}", a->ctx, lm->config.max_position_embeddings));
      const auto windows = [&](const std::string& spec) {
        llm::TokenStream ts = llm::load_token_stream(llm::text_argument(spec), tok);
        return llm::lm_windows(ts.ids, a->ctx, lm->config.vocab_size, spec);
      };
      train_set = windows(a->data);
      if (!a->val.empty()) val_set = windows(a->val);
      g = llm::llama_graph(lm->config, lm->weights);
    } else {
      const data::DatasetSpec train_spec = data::DatasetSpec::parse(a->data);
      std::optional<data::DatasetSpec> val_spec;
      if (!a->val.empty()) val_spec = data::DatasetSpec::parse(a->val);
      g = io::load_onnx(a->model);
      // Image folders are decoded to the model's input size and channels.
      const data::ImageTransform transform = data::image_transform_for(g);
      train_set = data::load_dataset(train_spec, {}, transform);
      if (val_spec) val_set = data::load_dataset(*val_spec, {}, transform);
    }
    const std::string data_text = a->data, val_text = a->val;  // the specs as the user wrote them
    o.epochs = a->epochs;
    o.batch_size = a->batch;
    o.optimizer.kind = a->optimizer;
    o.optimizer.momentum = a->optimizer == "sgd" ? a->momentum : 0.0;
    o.optimizer.nesterov = a->nesterov;
    o.optimizer.weight_decay = a->wd;
    o.optimizer.beta1 = a->beta1;
    o.optimizer.beta2 = a->beta2;
    o.lr = a->lr;
    o.min_lr = a->min_lr;
    o.schedule = a->schedule;
    o.warmup_epochs = a->warmup;
    o.label_smoothing = a->smoothing;
    o.clip_grad_norm = a->clip;
    o.seed = a->seed;
    o.max_steps = a->max_steps;
    o.channels_last = a->channels_last;
    o.checkpoint = a->checkpoint.empty() ? a->out + ".ckpt" : a->checkpoint;
    io::refuse_overwrite(o.checkpoint, {a->model, a->out});
    o.resume = a->resume;
    o.quiet = a->quiet;
    o.should_stop = [] { return g_stop.load(); };
    o.on_ready = [&](int64_t steps) {
      fmt::print(stderr, "train {} on {}: {} samples, {} epochs of {} steps, {} threads\n", a->model, data_text,
                 train_set.size(), o.epochs, steps, at::get_num_threads());
      if (!a->resume && std::filesystem::exists(o.checkpoint))
        fmt::print(stderr, "note: {} exists and will be replaced (use --resume to continue from it)\n", o.checkpoint);
    };

    auto previous = std::signal(SIGINT, on_sigint);
    train::TrainResult r;
    const auto wall_start = std::chrono::steady_clock::now();
    try {
      r = train::fit(g, train_set, val_set ? &*val_set : nullptr, o);
    } catch (...) {
      std::signal(SIGINT, previous);
      throw;
    }
    std::signal(SIGINT, previous);

    nlohmann::json j = r.to_json();
    // Everything the run took: training steps, validation, checkpoints (train.seconds counts steps only).
    j["wall_seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
    j["model"] = a->model;
    j["data"] = data_text;
    if (val_set) j["val"] = val_text;
    j["options"] = {{"epochs", o.epochs},
                    {"batch_size", o.batch_size},
                    {"optimizer", o.optimizer.kind},
                    {"lr", o.lr},
                    {"min_lr", o.min_lr},
                    {"schedule", o.schedule},
                    {"warmup_epochs", o.warmup_epochs},
                    {"momentum", o.optimizer.momentum},
                    {"nesterov", o.optimizer.nesterov},
                    {"weight_decay", o.optimizer.weight_decay},
                    {"label_smoothing", o.label_smoothing},
                    {"clip_grad_norm", o.clip_grad_norm},
                    {"augment", o.augment.to_string()},
                    {"seed", o.seed},
                    {"ctx", is_llm ? nlohmann::json(a->ctx) : nlohmann::json(nullptr)},
                    {"threads", at::get_num_threads()}};
    if (!a->json.empty()) io::write_atomic(a->json, [&](std::ostream& out) { out << j.dump(2) << "\n"; }, {a->model});
    if (r.interrupted) return 130;  // the checkpoint holds the progress; no half-trained --out

    // The trained model: same graph, same names, with a record of how it was trained.
    nlohmann::json record = j["options"];
    record["data"] = data_text;
    if (!r.history.empty() && r.history.back().val_top1 >= 0) {
      record["val"] = val_text;
      record["val_top1"] = r.history.back().val_top1;
      record["val_loss"] = r.history.back().val_loss;
    }
    if (is_llm) {
      const at::ScalarType st = a->dtype == "f16" ? at::kHalf : a->dtype == "bf16" ? at::kBFloat16 : at::kFloat;
      llm::save_llama_folder(a->out, lm->config, llm::llama_weights(g, lm->config), st);
      const std::string tok_out = (std::filesystem::path(a->out) / "tokenizer.model").string();
      if (!std::filesystem::equivalent(std::filesystem::path(tokenizer_file).parent_path(), a->out))
        std::filesystem::copy_file(tokenizer_file, tok_out, std::filesystem::copy_options::overwrite_existing);
      io::write_atomic((std::filesystem::path(a->out) / "pare_train.json").string(),
                       [&](std::ostream& out) { out << record.dump(2) << "\n"; });
      fmt::print("wrote {}", a->out);
      if (!r.history.empty() && r.history.back().val_top1 >= 0)
        fmt::print(" (val loss {:.4f}, perplexity {:.2f} on {})", r.history.back().val_loss,
                   std::exp(r.history.back().val_loss), val_text);
      fmt::print("\n");
      return 0;
    }
    g.metadata["pare.train"] = record.dump();
    io::save_onnx(g, a->out, {}, {a->model});
    fmt::print("wrote {}", a->out);
    if (!r.history.empty() && r.history.back().val_top1 >= 0)
      fmt::print(" (val top-1 {:.2f} % on {})", r.history.back().val_top1, val_text);
    fmt::print("\n");
    return 0;
  };
}

}  // namespace pare::cli
