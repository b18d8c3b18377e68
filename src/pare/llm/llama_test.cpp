#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include <ATen/CPUGeneratorImpl.h>

#include "pare/error.h"
#include "pare/exec/executor.h"
#include "pare/llm/gguf_llama.h"
#include "pare/llm/llama_config.h"
#include "pare/llm/llama_graph.h"
#include "pare/llm/llama_stream.h"
#include "pare/llm/lm_dataset.h"
#include "pare/llm/perplexity.h"
#include "pare/train/trainer.h"

namespace pare::llm {
namespace {

LlamaConfig test_config() { return LlamaConfig::preset("test"); }

// Random weights scaled up so that predictions are far from uniform and errors show.
WeightSource sharp_weights(const LlamaConfig& c) {
  WeightSource base = random_weights(c, 3);
  return [base](const std::string& name) {
    at::Tensor t = base(name);
    if (!t.defined() || t.dim() == 1) return t;
    return t * (name == "model.embed_tokens.weight" ? 40.0 : 4.0);
  };
}

at::Tensor random_ids(const LlamaConfig& c, int64_t n, int64_t t, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randint(0, c.vocab_size, {n, t}, gen, at::kLong);
}

TEST(LlamaConfig, PresetsAndJsonRoundTrip) {
  for (const auto& name : LlamaConfig::preset_names()) {
    LlamaConfig c = LlamaConfig::preset(name);
    LlamaConfig back = LlamaConfig::from_json(c.to_json(), "round trip");
    EXPECT_EQ(back.to_json(), c.to_json()) << name;
  }
  // TinyLlama-1.1B: 1,100,048,384 parameters (its model card).
  EXPECT_EQ(LlamaConfig::preset("tinyllama-1.1b").parameter_count(), 1100048384);
}

TEST(LlamaConfig, BadConfigsNameTheField) {
  nlohmann::json j = test_config().to_json();
  auto message = [](const nlohmann::json& bad) {
    try {
      LlamaConfig::from_json(bad, "cfg.json");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  nlohmann::json missing = j;
  missing.erase("hidden_size");
  EXPECT_NE(message(missing).find("'hidden_size'"), std::string::npos);
  EXPECT_NE(message(missing).find("cfg.json"), std::string::npos);
  nlohmann::json gqa = j;
  gqa["num_key_value_heads"] = 3;
  EXPECT_NE(message(gqa).find("num_key_value_heads"), std::string::npos);
  nlohmann::json scaling = j;
  scaling["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
  EXPECT_NE(message(scaling).find("rope_scaling"), std::string::npos);
  nlohmann::json text = j;
  text["vocab_size"] = "many";
  EXPECT_NE(message(text).find("not an integer"), std::string::npos);
  nlohmann::json arch = j;
  arch["architectures"] = {"GPT2LMHeadModel"};
  EXPECT_NE(message(arch).find("LlamaForCausalLM"), std::string::npos);
}

// The whole-model graph and the layer-by-layer runner compute the same logits (GQA, untied and tied).
TEST(LlamaGraph, GraphAndStreamAgree) {
  for (bool tied : {false, true}) {
    LlamaConfig c = test_config();
    c.tie_word_embeddings = tied;
    WeightSource w = sharp_weights(c);
    ir::Graph g = llama_graph(c, w);
    exec::Executor ex(g);
    at::Tensor ids = random_ids(c, 3, 20, 1);
    at::Tensor whole = ex.run({ids})[0];
    ASSERT_EQ(whole.sizes().vec(), (std::vector<int64_t>{3, 20, c.vocab_size}));
    LlamaModel m{c, w, "test", "graph", {}, {}, {}};
    StreamOptions so;
    so.sub_batch = 2;
    at::Tensor streamed = at::empty_like(whole);
    stream_logits(m, ids, so,
                  [&](int64_t first, const at::Tensor& l) { streamed.narrow(0, first, l.size(0)).copy_(l); });
    EXPECT_TRUE(at::allclose(whole, streamed, 1e-4, 1e-4))
        << "tied " << tied << ", max diff " << (whole - streamed).abs().max().item<double>();
    // The graph's weights read back in Hugging Face layout are the ones it was built from.
    for (const auto& [name, t] : llama_weights(g, c)) EXPECT_TRUE(at::equal(t, w(name).to(at::kFloat))) << name;
  }
}

// Logits at position t depend only on tokens 0..t, and differ once an earlier token changes.
TEST(LlamaGraph, Causal) {
  LlamaConfig c = test_config();
  ir::Graph g = llama_graph(c, sharp_weights(c));
  exec::Executor ex(g);
  at::Tensor ids = random_ids(c, 1, 12, 2);
  at::Tensor a = ex.run({ids})[0];
  at::Tensor changed = ids.clone();
  changed[0][7] = (ids[0][7].item<int64_t>() + 1) % c.vocab_size;
  at::Tensor b = ex.run({changed})[0];
  EXPECT_TRUE(at::equal(a.narrow(1, 0, 7), b.narrow(1, 0, 7)));
  EXPECT_GT((a.narrow(1, 7, 5) - b.narrow(1, 7, 5)).abs().max().item<double>(), 1e-3);
}

TEST(Perplexity, WindowsOfBothProtocols) {
  std::vector<int32_t> text(50);
  for (int i = 0; i < 50; ++i) text[i] = 10 + i;
  PplWindows w = make_windows(text, 8, PplProtocol::Windows, 1);
  ASSERT_EQ(w.inputs.sizes().vec(), (std::vector<int64_t>{6, 8}));  // 48 of 50 tokens
  EXPECT_EQ(w.scored(), 6 * 7);
  EXPECT_EQ(w.inputs[1][0].item<int64_t>(), 18);
  EXPECT_EQ(w.targets[1][0].item<int64_t>(), 19);
  EXPECT_EQ(w.targets[1][7].item<int64_t>(), -1);

  PplWindows l = make_windows(text, 8, PplProtocol::LlamaCpp, 1);
  ASSERT_EQ(l.inputs.sizes().vec(), (std::vector<int64_t>{6, 8}));  // BOS + 50 tokens = 51 -> 6 chunks
  EXPECT_EQ(l.scored(), 6 * 3);                                     // positions 4, 5, 6 of each chunk
  EXPECT_EQ(l.inputs[0][0].item<int64_t>(), 1);
  EXPECT_EQ(l.inputs[2][0].item<int64_t>(), 1);        // the chunk's first token is replaced by BOS
  EXPECT_EQ(l.inputs[2][1].item<int64_t>(), 10 + 16);  // chunk 2 = tokens 16..23 of [BOS, text]
  EXPECT_EQ(l.targets[2][3].item<int64_t>(), -1);
  EXPECT_EQ(l.targets[2][4].item<int64_t>(), 10 + 20);
  EXPECT_EQ(l.targets[2][7].item<int64_t>(), -1);

  EXPECT_THROW(make_windows(std::vector<int32_t>(10, 5), 8, PplProtocol::LlamaCpp, 1), Error);
}

// perplexity() equals exp of the mean cross-entropy computed from the whole graph's logits.
TEST(Perplexity, MatchesCrossEntropyOfTheGraph) {
  LlamaConfig c = test_config();
  WeightSource w = sharp_weights(c);
  at::Tensor ids = random_ids(c, 1, 100, 4);
  std::vector<int32_t> text(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + 100);
  PplWindows win = make_windows(text, 32, PplProtocol::Windows, c.bos_token_id);
  PplResult r = perplexity(LlamaModel{c, w, "test", "graph", {}, {}, {}}, win);
  ir::Graph g = llama_graph(c, w);
  exec::Executor ex(g);
  at::Tensor logits = ex.run({win.inputs})[0].narrow(1, 0, 31).reshape({-1, c.vocab_size});
  at::Tensor targets = win.targets.narrow(1, 0, 31).reshape({-1});
  const double ce = at::cross_entropy_loss(logits.to(at::kDouble), targets).item<double>();
  EXPECT_EQ(r.scored, 3 * 31);
  EXPECT_NEAR(r.perplexity, std::exp(ce), 1e-4 * std::exp(ce));
}

// The query/key row reordering between Hugging Face and GGUF order is a permutation and its inverse.
TEST(LlamaGguf, RowOrderRoundTrip) {
  at::Tensor w = at::arange(2 * 8, at::kFloat).reshape({2 * 8, 1});
  at::Tensor g = hf_to_gguf_rows(w, 2);
  // Head 0 (head_dim 8): HF rows (0..3 | 4..7) pair i with i + 4; GGUF puts each pair side by side.
  const std::vector<float> want{0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15};
  EXPECT_TRUE(at::equal(g.flatten(), at::tensor(want)));
  EXPECT_TRUE(at::equal(gguf_to_hf_rows(g, 2), w));
}

// A model written as F32 GGUF and read back has the same weights (names, layout, q/k rows) and config.
TEST(LlamaGguf, F32ExportReadsBackExactly) {
  LlamaConfig c = test_config();
  WeightSource w = sharp_weights(c);
  Vocab v;
  for (int i = 0; i < c.vocab_size; ++i) v.pieces.push_back({"t" + std::to_string(i), -float(i), PieceType::Normal});
  const std::string path = (std::filesystem::temp_directory_path() / "pare_llama_test.gguf").string();
  export_llama_gguf(LlamaModel{c, w, "test", "graph", {}, {}, {}}, v, formats::GgmlType::F32, path, "test");
  LlamaModel back = load_llama_gguf(path);
  EXPECT_EQ(back.config.to_json().dump(), [&] {
    LlamaConfig e = c;
    e.torch_dtype = "float32";
    return e.to_json().dump();
  }());
  for (const auto& t : llama_tensors(c))
    EXPECT_TRUE(at::equal(back.weights(t.name), w(t.name).to(at::kFloat))) << t.name;
  Vocab rv = read_gguf_vocab(path);
  ASSERT_EQ(rv.size(), c.vocab_size);
  EXPECT_EQ(rv.pieces[7].text, "t7");
  EXPECT_EQ(rv.pieces[7].score, -7.0f);
  std::filesystem::remove(path);
}

// The ordinary trainer trains a Llama graph on next-token windows: a periodic sequence is learned.
TEST(LlamaTraining, LearnsAPeriodicSequence) {
  LlamaConfig c = test_config();
  ir::Graph g = llama_graph(c, random_weights(c, 5));
  std::vector<int32_t> tokens;
  const int period[] = {5, 17, 42, 42, 99, 3, 250, 17, 8, 61, 61, 61, 7};
  for (int i = 0; i < 13 * 80; ++i) tokens.push_back(period[i % 13]);
  data::Dataset d = lm_windows(tokens, 24, c.vocab_size, "periodic");
  ASSERT_EQ(d.inputs.size(1), 24);
  EXPECT_TRUE(at::equal(d.labels[0].narrow(0, 0, 23), d.inputs[0].narrow(0, 1, 23)));
  train::TrainOptions o;
  o.epochs = 20;  // 100 steps
  o.batch_size = 8;
  o.warmup_epochs = 1;
  o.optimizer.kind = "adamw";
  o.lr = 3e-3;
  o.quiet = true;
  o.seed = 1;
  train::TrainResult r = train::fit(g, d, &d, o);
  ASSERT_EQ(r.history.size(), 20u);
  EXPECT_GT(r.history.front().train_loss, 3.0);
  EXPECT_LT(r.history.back().val_loss, 0.5);
  EXPECT_GT(r.history.back().val_top1, 85.0);
}

}  // namespace
}  // namespace pare::llm
