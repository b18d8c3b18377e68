// `pare ppl MODEL --text FILE --ctx N --protocol windows|llamacpp`: perplexity of a Llama model (Hugging
// Face folder, GGUF file or .pare package), computed layer by layer from memory-mapped weights.
// `--ref REF`: also the KL divergence of MODEL's next-token distributions from REF's (a model, or a
// reference stored by `--save-ref FILE`) and their top-1 agreement (llm/kl_divergence.h).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <iostream>
#include <optional>

#include "pare/cli/command.h"
#include "pare/error.h"
#include "pare/exec/threads.h"
#include "pare/io/atomic_file.h"
#include "pare/llm/evaluate.h"
#include "pare/report/progress.h"

namespace pare::cli {

namespace {

void print_kld(const llm::KldResult& k) {
  fmt::print("KLD         mean {:.6g} +- {:.2g}, median {:.4g}, p99 {:.4g}, max {:.4g} (nats, {} positions)\n",
             k.kld_mean, k.kld_stderr, k.kld_median, k.kld_p99, k.kld_max, k.scored);
  fmt::print("top-1 same  {:.2f} %\n", k.top1_same);
  fmt::print("ppl         ref {:.4f}  model {:.4f}  ratio {:.5f} (ln ratio {:.5f} +- {:.5f})\n", k.ppl_ref, k.ppl_model,
             k.ppl_ratio, k.ln_ppl_ratio, k.ln_ppl_ratio_stderr);
}

void print_result(const llm::EvaluateOptions& o, const llm::EvaluateResult& r) {
  const llm::PplResult& p = r.ppl;
  fmt::print("model       {} ({})\n", o.model, r.model_format);
  fmt::print("size        {}\n", r.size.str());
  if (r.ref_size) fmt::print("reference   {} ({})\n", o.ref, r.ref_format);
  if (r.ref_size) fmt::print("ref. size   {}\n", r.ref_size->str());
  if (r.ref_format == "stored")
    fmt::print("reference   {} (stored reference of {})\n", o.ref, r.stored_ref.value("source", "?"));
  if (!r.config_differences.empty())
    fmt::print("note        reference and model configs differ: {}\n", fmt::join(r.config_differences, ", "));
  fmt::print("text        {} tokens {}\n", r.text_tokens, r.tokenizer);
  if (r.kld && !r.vocabulary_check.empty()) fmt::print("vocabulary  {}\n", r.vocabulary_check);
  fmt::print("protocol    {}, ctx {}, {} windows, {} scored tokens\n", llm::protocol_name(p.protocol), p.ctx, p.windows,
             p.scored);
  fmt::print("perplexity  {:.4f} (nll {:.5f} +- {:.5f} nats/token)\n", p.perplexity, p.nll, p.nll_stderr);
  if (r.kld) print_kld(*r.kld);
  fmt::print("speed       {:.0f} tokens/s ({:.2f} s)\n", p.tokens_per_second, p.seconds);
  if (!r.saved.is_null())
    fmt::print("saved       {} ({:.2f} MB: {:.0f} bytes per scored token, written in {:.2f} s)\n", o.save_ref,
               r.saved["bytes"].get<uint64_t>() / 1e6, r.saved["bytes_per_scored_token"].get<double>(),
               r.saved["write_seconds"].get<double>());
}

}  // namespace

Action add_ppl_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("ppl",
                                 "Perplexity of a Llama model on a text (Hugging Face folder, GGUF, .pare); with "
                                 "--ref, its KL divergence from a reference model");
  auto model = std::make_shared<std::string>();
  auto text = std::make_shared<std::string>();
  auto tokens = std::make_shared<std::string>();
  auto tokenizer = std::make_shared<std::string>();
  auto ctx = std::make_shared<int64_t>(0);
  auto protocol = std::make_shared<std::string>("windows");
  auto json = std::make_shared<std::string>();
  auto ref = std::make_shared<std::string>();
  auto save_ref = std::make_shared<std::string>();
  auto threads = std::make_shared<int>(0);
  auto batch = std::make_shared<int64_t>(8);
  auto quiet = std::make_shared<bool>(false);
  cmd->add_option("model", *model, "Hugging Face model folder, .gguf file or .pare package")->required();
  auto* t = cmd->add_option("--text", *text, "text to score: a UTF-8 file, text:FILE or brown:heldout|valid|train");
  auto* k = cmd->add_option("--tokens", *tokens, "token ids to score instead of a text (.npy, 1-D integers)");
  t->excludes(k);
  cmd->add_option("--tokenizer", *tokenizer,
                  "SentencePiece tokenizer.model (default: the model folder's, or the GGUF file's vocabulary)");
  auto* ctx_opt = cmd->add_option("--ctx", *ctx,
                                  "tokens per window (default: 512, or the model's max_position_embeddings if "
                                  "smaller; with a stored --ref: its ctx)")
                      ->check(CLI::Range(4, 1 << 20));
  auto* protocol_opt =
      cmd->add_option("--protocol", *protocol,
                      "windows (non-overlapping windows, every token after the first scored) or llamacpp "
                      "(llama-perplexity: BOS per chunk, second half scored); with a stored --ref: its protocol "
                      "by default")
          ->check(CLI::IsMember({"windows", "llamacpp"}));
  cmd->add_option("--ref", *ref,
                  "reference for KL divergence and top-1 agreement over the scored positions: a model (folder, "
                  ".gguf, .pare) or a file written by --save-ref");
  cmd->add_option("--save-ref", *save_ref,
                  "store the reference (--ref REF_MODEL, or MODEL itself without --ref) for later --ref FILE: its "
                  "final hidden states and head, as .safetensors");
  cmd->add_option("--json", *json, "also write the results as JSON to this file");
  cmd->add_option("--threads", *threads, "compute threads (0: one per core)");
  cmd->add_option("--batch-size,--batch", *batch, "windows per run (memory: attention scores of this many windows)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 16));
  cmd->add_flag("--quiet", *quiet, "no progress output");
  auto llamacpp_numerics = std::make_shared<bool>(false);
  cmd->add_flag("--llamacpp-numerics", *llamacpp_numerics,
                "GGUF models: round activations as llama.cpp's CPU backend does before each matrix product "
                "(Q8_0 blocks for Q8_0/Q4_0 weights, float16 for F16), to reproduce its figures");
  return [=]() {
    exec::set_threads(*threads);
    llm::EvaluateOptions o;
    o.model = *model;
    o.text = *text;
    o.tokens = *tokens;
    o.tokenizer = *tokenizer;
    if (ctx_opt->count() > 0) o.ctx = *ctx;
    if (protocol_opt->count() > 0) o.protocol = *protocol;
    o.ref = *ref;
    o.save_ref = *save_ref;
    o.json = *json;
    o.llamacpp_numerics = *llamacpp_numerics;
    o.sub_batch = *batch;
    std::unique_ptr<report::Progress> bar;
    o.progress = [&](int64_t done, int64_t total, const std::string& status) {
      if (!bar) bar = std::make_unique<report::Progress>(ref->empty() ? "ppl" : "ppl+kld", total, *quiet);
      bar->update(done, status);
    };
    const llm::EvaluateResult r = llm::evaluate(o);
    if (bar) bar->finish(fmt::format("{:.0f} tokens/s", r.ppl.tokens_per_second));
    print_result(o, r);
    if (!json->empty()) {
      io::write_atomic(
          *json, [&](std::ostream& out) { out << r.to_json(o).dump(2) << "\n"; }, r.inputs);
    }
    return 0;
  };
}

}  // namespace pare::cli
