#include "pare/llm/kl_divergence.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include <ATen/CPUGeneratorImpl.h>

#include "pare/error.h"
#include "pare/io/safetensors.h"
#include "pare/llm/llama_graph.h"

namespace pare::llm {
namespace {

namespace fs = std::filesystem;

// Random weights scaled up so that predictions are far from uniform (as in llama_test.cpp).
WeightSource sharp_weights(const LlamaConfig& c, uint64_t seed = 3) {
  WeightSource base = random_weights(c, seed);
  return [base](const std::string& name) {
    at::Tensor t = base(name);
    if (!t.defined() || t.dim() == 1) return t;
    return t * (name == "model.embed_tokens.weight" ? 40.0 : 4.0);
  };
}

// The same model with every projection of layer 1 perturbed (a stand-in for quantization noise).
WeightSource perturbed(const WeightSource& base, double scale) {
  return [base, scale](const std::string& name) {
    at::Tensor t = base(name);
    if (!t.defined() || name.rfind("model.layers.1.", 0) != 0 || t.dim() != 2) return t;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(std::hash<std::string>{}(name));
    return t + at::normal(0.0, scale, t.sizes(), gen) * t.abs().mean();
  };
}

std::vector<int32_t> random_text(const LlamaConfig& c, int64_t n, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  at::Tensor t = at::randint(3, c.vocab_size, {n}, gen, at::kInt);
  return std::vector<int32_t>(t.data_ptr<int32_t>(), t.data_ptr<int32_t>() + n);
}

LlamaModel model_of(const LlamaConfig& c, WeightSource w, const std::string& name) {
  return LlamaModel{c, std::move(w), name, "graph", {}, {}, {}};
}

// All logits of a model over the windows, through stream_logits: [N, T, V]. (The comparison applies the
// head to the scored rows alone: float32 products of another shape, equal to ~1e-7.)
at::Tensor all_logits(const LlamaModel& m, const PplWindows& w, const StreamOptions& so) {
  at::Tensor out = at::empty({w.inputs.size(0), w.inputs.size(1), m.config.vocab_size});
  stream_logits(m, w.inputs, so, [&](int64_t first, const at::Tensor& l) { out.narrow(0, first, l.size(0)).copy_(l); });
  return out;
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

fs::path temp_file(const std::string& name) { return fs::temp_directory_path() / ("pare_kld_test_" + name); }

TEST(KlDivergence, AModelAgainstItselfIsZero) {
  const LlamaConfig c = LlamaConfig::preset("test");
  const LlamaModel m = model_of(c, sharp_weights(c), "m");
  const std::vector<int32_t> text = random_text(c, 200, 1);
  for (PplProtocol p : {PplProtocol::Windows, PplProtocol::LlamaCpp}) {
    const PplWindows w = make_windows(text, 32, p, c.bos_token_id);
    StreamOptions so;
    so.sub_batch = 2;
    const KldResult r = kl_divergence(reference_from_model(m, w, so), m, w, so);
    EXPECT_EQ(r.scored, w.scored());
    EXPECT_EQ(r.kld_mean, 0.0);
    EXPECT_EQ(r.kld_max, 0.0);
    EXPECT_EQ(r.top1_same, 100.0);
    EXPECT_EQ(r.ppl_ratio, 1.0);
    EXPECT_EQ(r.nll_ref, r.nll_model);
    // The model's perplexity is the plain one (float64 instead of float32 log-softmax: 1e-6 relative).
    const PplResult plain = perplexity(m, w);
    EXPECT_NEAR(r.ppl_model, plain.perplexity, 1e-6 * plain.perplexity);
  }
}

// Against a perturbed copy: equal to at::kl_div over logits materialized for every window.
TEST(KlDivergence, EqualsAnIndependentComputation) {
  const LlamaConfig c = LlamaConfig::preset("test");
  const LlamaModel ref = model_of(c, sharp_weights(c), "ref");
  const LlamaModel m = model_of(c, perturbed(ref.weights, 0.3), "model");
  const PplWindows w = make_windows(random_text(c, 300, 2), 40, PplProtocol::Windows, c.bos_token_id);
  StreamOptions so;
  so.sub_batch = 3;
  const KldResult r = kl_divergence(reference_from_model(ref, w, so), m, w, so);

  at::Tensor keep = (w.targets.reshape({-1}) >= 0).nonzero().squeeze(1);
  at::Tensor rl = all_logits(ref, w, so).reshape({-1, c.vocab_size}).index_select(0, keep);
  at::Tensor ml = all_logits(m, w, so).reshape({-1, c.vocab_size}).index_select(0, keep);
  at::Tensor targets = w.targets.reshape({-1}).index_select(0, keep);
  at::Tensor lr = at::log_softmax(rl.to(at::kDouble), -1), lm = at::log_softmax(ml.to(at::kDouble), -1);
  // kl_div(input = log q, target = log p, log_target) = p (log p - log q), summed over the vocabulary.
  at::Tensor kld = at::kl_div(lm, lr, at::Reduction::None, /*log_target=*/true).sum(-1);
  const int64_t n = kld.numel();
  ASSERT_EQ(r.scored, n);
  const double mean = kld.mean().item<double>();
  EXPECT_GT(mean, 1e-3);  // the perturbation shows
  EXPECT_NEAR(r.kld_mean, mean, 1e-5 * mean);
  EXPECT_NEAR(r.kld_stderr, kld.std().item<double>() / std::sqrt(double(n)), 1e-5 * r.kld_stderr);
  EXPECT_NEAR(r.kld_max, kld.max().item<double>(), 1e-5 * r.kld_max);
  std::vector<double> sorted(kld.data_ptr<double>(), kld.data_ptr<double>() + n);
  std::sort(sorted.begin(), sorted.end());
  const double pos = 0.99 * double(n - 1);
  const size_t lo = size_t(pos);
  EXPECT_NEAR(r.kld_p99, sorted[lo] + (pos - double(lo)) * (sorted[lo + 1] - sorted[lo]), 1e-5 * r.kld_p99);
  const double same = (rl.argmax(-1) == ml.argmax(-1)).to(at::kDouble).mean().item<double>() * 100;
  EXPECT_NEAR(r.top1_same, same, 100.0 / double(n));  // a near-tie may flip between product shapes
  EXPECT_LT(r.top1_same, 100.0);
  const double ce_ref = at::nll_loss(lr, targets).item<double>(), ce_m = at::nll_loss(lm, targets).item<double>();
  EXPECT_NEAR(r.nll_ref, ce_ref, 1e-7);
  EXPECT_NEAR(r.nll_model, ce_m, 1e-7);
  EXPECT_NEAR(r.ppl_ratio, std::exp(ce_m - ce_ref), 1e-7);
}

// A stored reference gives the numbers of the live one; the file is d x 4 bytes per token plus the head.
TEST(KlDivergence, StoredReferenceEqualsLive) {
  for (bool tied : {false, true}) {
    LlamaConfig c = LlamaConfig::preset("test");
    c.tie_word_embeddings = tied;
    const LlamaModel ref = model_of(c, sharp_weights(c), "ref");
    const LlamaModel m = model_of(c, perturbed(ref.weights, 0.2), "model");
    const std::vector<int32_t> text = random_text(c, 260, 3);
    const PplWindows w = make_windows(text, 64, PplProtocol::LlamaCpp, c.bos_token_id);
    const KldReference live = reference_from_model(ref, w, {});
    const KldResult a = kl_divergence(live, m, w);

    const std::string path = temp_file("ref.safetensors").string();
    ReferenceText rt;
    rt.ids = &text;
    rt.tokenizer_hash = 42;
    rt.tokenizer = "tok.model";
    const uint64_t bytes = save_reference(path, ref, live.hidden, w, rt);
    const uint64_t tensors = 4 * (w.scored() * c.hidden_size + c.hidden_size + c.vocab_size * c.hidden_size);
    EXPECT_GT(bytes, tensors);
    EXPECT_LT(bytes, tensors + 4096);  // the header
    ASSERT_TRUE(looks_like_stored_reference(path));
    const KldReference stored = load_reference(path, m.config, "model", w, rt);
    const KldResult b = kl_divergence(stored, m, w);
    EXPECT_EQ(a.kld_mean, b.kld_mean) << "tied " << tied;
    EXPECT_EQ(a.kld_p99, b.kld_p99);
    EXPECT_EQ(a.kld_max, b.kld_max);
    EXPECT_EQ(a.top1_same, b.top1_same);
    EXPECT_EQ(a.ppl_ref, b.ppl_ref);
    EXPECT_EQ(a.ppl_model, b.ppl_model);
    EXPECT_EQ(stored.metadata["source"], "ref");
    fs::remove(path);
  }
}

// The perplexity from stream_hidden + the head is the one perplexity() computes.
TEST(KlDivergence, PerplexityFromHiddenStatesIsThePlainOne) {
  const LlamaConfig c = LlamaConfig::preset("test");
  const LlamaModel m = model_of(c, sharp_weights(c), "m");
  const PplWindows w = make_windows(random_text(c, 200, 4), 32, PplProtocol::Windows, c.bos_token_id);
  StreamOptions so;
  so.sub_batch = 2;
  const PplResult a = perplexity(m, w, so);
  const PplResult b = perplexity(stream_hidden(m, w.inputs, so), llama_head(m), w, 2);
  EXPECT_EQ(a.perplexity, b.perplexity);
  EXPECT_EQ(a.nll_stderr, b.nll_stderr);
  EXPECT_EQ(a.scored, b.scored);
}

TEST(KlDivergence, VocabularyMismatchesAreErrors) {
  const LlamaConfig c = LlamaConfig::preset("test");
  LlamaConfig other = c;
  other.vocab_size = 320;
  std::string e = message_of([&] { check_same_vocab_size(c, "ref_dir", other, "model_dir"); });
  EXPECT_NE(e.find("vocab_size 512"), std::string::npos) << e;
  EXPECT_NE(e.find("vocab_size 320"), std::string::npos) << e;
  EXPECT_NE(e.find("ref_dir"), std::string::npos) << e;
  EXPECT_NE(e.find("model_dir"), std::string::npos) << e;
  other = c;
  other.bos_token_id = 0;
  EXPECT_NE(message_of([&] { check_same_vocab_size(c, "r", other, "m"); }).find("bos_token_id"), std::string::npos);
  EXPECT_EQ(message_of([&] { check_same_vocab_size(c, "r", c, "m"); }), "no error");
  // Different architectures over one vocabulary are allowed, and named.
  other = c;
  other.hidden_size = 128;
  other.num_layers = 3;
  EXPECT_EQ(config_differences(c, other),
            (std::vector<std::string>{"hidden_size 64 vs 128", "num_hidden_layers 2 vs 3"}));

  Vocab a;
  for (int i = 0; i < 8; ++i) a.pieces.push_back({"p" + std::to_string(i), 0.f, PieceType::Normal});
  Vocab b = a;
  EXPECT_EQ(message_of([&] { check_same_vocabulary(a, "a.model", b, "b.model"); }), "no error");
  EXPECT_EQ(vocab_hash(a), vocab_hash(b));
  b.pieces[5].text = "q5";
  e = message_of([&] { check_same_vocabulary(a, "a.model", b, "b.model"); });
  EXPECT_NE(e.find("piece 5"), std::string::npos) << e;
  EXPECT_NE(e.find("'p5'"), std::string::npos) << e;
  EXPECT_NE(e.find("'q5'"), std::string::npos) << e;
  EXPECT_NE(e.find("a.model"), std::string::npos) << e;
  EXPECT_NE(vocab_hash(a), vocab_hash(b));
  b = a;
  b.pieces.pop_back();
  EXPECT_NE(message_of([&] { check_same_vocabulary(a, "a", b, "b"); }).find("8 pieces"), std::string::npos);

  // A reference whose head has another vocabulary.
  const LlamaModel m = model_of(c, sharp_weights(c), "m");
  const PplWindows w = make_windows(random_text(c, 100, 5), 16, PplProtocol::Windows, c.bos_token_id);
  KldReference r = reference_from_model(m, w, {});
  r.head = llama_head(r.head.norm, at::zeros({300, c.hidden_size}), c.rms_norm_eps);
  EXPECT_NE(message_of([&] { kl_divergence(r, m, w); }).find("different vocabularies"), std::string::npos);
}

TEST(KlDivergence, StoredReferenceMismatchesAreErrors) {
  const LlamaConfig c = LlamaConfig::preset("test");
  const LlamaModel ref = model_of(c, sharp_weights(c), "ref_model");
  const std::vector<int32_t> text = random_text(c, 200, 6);
  const PplWindows w = make_windows(text, 32, PplProtocol::Windows, c.bos_token_id);
  const std::string path = temp_file("mismatch.safetensors").string();
  ReferenceText rt;
  rt.ids = &text;
  rt.tokenizer_hash = 7;
  rt.tokenizer = "ref_tok.model";
  save_reference(path, ref, scored_rows(stream_hidden(ref, w.inputs, {}), w), w, rt);
  auto load = [&](const LlamaConfig& mc, const PplWindows& ww, const ReferenceText& t) {
    return message_of([&] { load_reference(path, mc, "cand", ww, t); });
  };
  EXPECT_EQ(load(c, w, rt), "no error");
  auto expect = [&](const std::string& msg, const std::vector<std::string>& needles) {
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    for (const auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << n << " in " << msg;
  };
  // Another ctx, protocol, text.
  expect(load(c, make_windows(text, 16, PplProtocol::Windows, c.bos_token_id), rt),
         {"made with another ctx", "ctx 16 (this run)", "ctx 32 (stored)"});
  expect(load(c, make_windows(text, 32, PplProtocol::LlamaCpp, c.bos_token_id), rt),
         {"another protocol", "llamacpp (this run)", "windows (stored)"});
  std::vector<int32_t> other_text = text;
  other_text[17] = (other_text[17] + 1) % int32_t(c.vocab_size);
  ReferenceText ot = rt;
  ot.ids = &other_text;
  expect(load(c, w, ot), {"another text", "200 tokens, fnv1a64:"});
  // Another tokenizer; none known (token ids given) is not checked.
  ReferenceText tt = rt;
  tt.tokenizer_hash = 8;
  tt.tokenizer = "cand_tok.model";
  expect(load(c, w, tt), {"another tokenizer", "ref_tok.model", "cand_tok.model"});
  tt.tokenizer_hash.reset();
  EXPECT_EQ(load(c, w, tt), "no error");
  // Another vocabulary.
  LlamaConfig v = c;
  v.vocab_size = 640;
  expect(load(v, w, rt), {"another vocab_size", "640", "512 (stored)", "cand"});
  // A safetensors file that is not a reference.
  const std::string plain = temp_file("plain.safetensors").string();
  io::save_safetensors(plain, {{"x", at::zeros({2})}}, {{"format", "pt"}});
  const std::string e = message_of([&] { load_reference(plain, c, "cand", w, rt); });
  EXPECT_NE(e.find("not a stored pare reference"), std::string::npos) << e;
  fs::remove(path);
  fs::remove(plain);
}

TEST(KlDivergence, TokenHashIsFnv1a) {
  // FNV-1a 64 of no bytes is the offset basis; of the int32 1 (01 00 00 00) a fixed value.
  EXPECT_EQ(token_hash({}), 1469598103934665603ull);
  EXPECT_NE(token_hash({1}), token_hash({256}));
  EXPECT_NE(token_hash({1, 2}), token_hash({2, 1}));
}

}  // namespace
}  // namespace pare::llm
