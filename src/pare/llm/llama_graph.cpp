#include "pare/llm/llama_graph.h"

#include <fmt/format.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <limits>

#include "pare/error.h"
#include "pare/ir/graph_builder.h"

namespace pare::llm {
namespace {

// Graph layout: projections transposed to [in, out], as MatMul reads them.
at::Tensor graph_weight(const WeightSource& w, const LlamaConfig& c, const std::string& name,
                        const std::vector<int64_t>& shape) {
  at::Tensor t = llama_weight(w, c, name, shape);
  return stored_transposed(name) ? t.t().contiguous() : t.contiguous();
}

struct BlockBuilder {
  ir::GraphBuilder& b;
  const LlamaConfig& c;
  const WeightSource& w;
  ActivationRounding rounding = {};

  std::string weight(const std::string& name, const std::vector<int64_t>& hf_shape) {
    return b.initializer(name, graph_weight(w, c, name, hf_shape));
  }

  std::string rms_norm(const std::string& x, const std::string& name) {
    auto sq = b.add1("Mul", {x, x}, {}, name + ".square");
    auto ms =
        b.add1("ReduceMean", {sq}, {{"axes", std::vector<int64_t>{-1}}, {"keepdims", int64_t{1}}}, name + ".mean");
    ms = b.add1("Add", {ms, b.constant(at::scalar_tensor(static_cast<float>(c.rms_norm_eps)), name + ".eps")}, {},
                name + ".add_eps");
    auto inv = b.add1("Reciprocal", {b.add1("Sqrt", {ms}, {}, name + ".sqrt")}, {}, name + ".rsqrt");
    auto y = b.add1("Mul", {x, inv}, {}, name + ".normalize");
    return b.add1("Mul", {y, weight(name + ".weight", {c.hidden_size})}, {}, name);
  }

  // x [N, T, din] @ W^T -> [N, T, dout]; `name` is the module ("model.layers.0.self_attn.q_proj").
  std::string proj(const std::string& x, const std::string& name, int64_t dout, int64_t din) {
    const std::string format = rounding ? rounding(name + ".weight") : "";
    const std::string in = format.empty() ? x : round_input(x, format, din, name + ".input");
    return b.add1("MatMul", {in, weight(name + ".weight", {dout, din})}, {}, name);
  }

  // round_activation() as graph ops. q8_0: d = max|x| / 127 per block of 32, codes round(x / d), values
  // codes * float16(d).
  std::string round_input(const std::string& x, const std::string& format, int64_t din, const std::string& name) {
    const auto to_f16_and_back = [&](const std::string& v, const std::string& n) {
      auto h = b.add1("Cast", {v}, {{"to", int64_t{10}}}, n + ".f16");  // TensorProto FLOAT16
      return b.add1("Cast", {h}, {{"to", int64_t{1}}}, n + ".f32");
    };
    if (format == "f16") return to_f16_and_back(x, name);
    PARE_ASSERT(format == "q8_0", "unknown activation rounding");
    if (din % 32 != 0)
      throw Error("q8_0 activation rounding needs a reduction size that is a multiple of 32").tensor(name);
    auto blocks =
        b.add1("Reshape", {x, b.constant_ints({0, 0, din / 32, 32}, name + ".block_shape")}, {}, name + ".blocks");
    auto amax = b.add1("ReduceMax", {b.add1("Abs", {blocks}, {}, name + ".abs")},
                       {{"axes", std::vector<int64_t>{-1}}, {"keepdims", int64_t{1}}}, name + ".amax");
    auto d = b.add1("Div", {amax, b.constant(at::scalar_tensor(127.0f), name + ".qmax")}, {}, name + ".d");
    // ggml: id = d ? 1/d : 0; a zero block stays zero with any finite id, so a floor on d does the same.
    auto id = b.add1("Reciprocal",
                     {b.add1("Max", {d, b.constant(at::scalar_tensor(1e-30f), name + ".tiny")}, {}, name + ".d_floor")},
                     {}, name + ".id");
    auto q = b.add1("Round", {b.add1("Mul", {blocks, id}, {}, name + ".scaled")}, {}, name + ".codes");
    auto y = b.add1("Mul", {q, to_f16_and_back(d, name + ".d")}, {}, name + ".values");
    return b.add1("Reshape", {y, b.constant_ints({0, 0, din}, name + ".shape")}, {}, name);
  }

  // [N, T, heads * Dh] -> [N, heads, T, Dh]
  std::string split_heads(const std::string& x, int64_t heads, const std::string& name) {
    auto r = b.add1("Reshape", {x, b.constant_ints({0, 0, heads, c.head_dim}, name + ".shape")}, {}, name + ".split");
    return b.add1("Transpose", {r}, {{"perm", std::vector<int64_t>{0, 2, 1, 3}}}, name + ".heads");
  }

  // x * cos + rotate_half(x) * sin, rotate_half(x) = cat(-x[..., Dh/2:], x[..., :Dh/2]).
  std::string rope(const std::string& x, const std::string& cos, const std::string& sin, const std::string& name) {
    const int64_t h = c.head_dim / 2;
    auto axis = b.constant_ints({-1}, name + ".axis");
    auto x1 = b.add1("Slice", {x, b.constant_ints({0}, name + ".s0"), b.constant_ints({h}, name + ".s1"), axis}, {},
                     name + ".first_half");
    auto x2 = b.add1("Slice", {x, b.constant_ints({h}, name + ".s2"), b.constant_ints({2 * h}, name + ".s3"), axis}, {},
                     name + ".second_half");
    auto rot =
        b.add1("Concat", {b.add1("Neg", {x2}, {}, name + ".neg"), x1}, {{"axis", int64_t{-1}}}, name + ".rotate_half");
    return b.add1("Add", {b.add1("Mul", {x, cos}, {}, name + ".cos"), b.add1("Mul", {rot, sin}, {}, name + ".sin")}, {},
                  name);
  }

  // [N, Hkv, T, Dh] -> [N, H, T, Dh], each key/value head repeated H / Hkv times (HF's repeat_kv).
  std::string repeat_kv(const std::string& x, const std::string& name) {
    const int64_t rep = c.num_heads / c.num_kv_heads;
    if (rep == 1) return x;
    auto u = b.add1("Unsqueeze", {x, b.constant_ints({2}, name + ".axis")}, {}, name + ".unsqueeze");
    auto e = b.add1("Expand", {u, b.constant_ints({1, 1, rep, 1, 1}, name + ".reps")}, {}, name + ".expand");
    return b.add1("Reshape", {e, b.constant_ints({0, c.num_heads, -1, c.head_dim}, name + ".shape")}, {}, name);
  }

  std::string attention(const std::string& x, const std::string& cos, const std::string& sin, const std::string& mask,
                        const std::string& p) {
    const int64_t d = c.hidden_size, qd = c.num_heads * c.head_dim, kvd = c.kv_dim();
    auto q = split_heads(proj(x, p + "q_proj", qd, d), c.num_heads, p + "q");
    auto k = split_heads(proj(x, p + "k_proj", kvd, d), c.num_kv_heads, p + "k");
    auto v = split_heads(proj(x, p + "v_proj", kvd, d), c.num_kv_heads, p + "v");
    q = rope(q, cos, sin, p + "q_rope");
    k = repeat_kv(rope(k, cos, sin, p + "k_rope"), p + "k_repeat");
    v = repeat_kv(v, p + "v_repeat");
    auto kt = b.add1("Transpose", {k}, {{"perm", std::vector<int64_t>{0, 1, 3, 2}}}, p + "k_t");
    auto s = b.add1("MatMul", {q, kt}, {}, p + "scores");
    const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(c.head_dim)));
    s = b.add1("Mul", {s, b.constant(at::scalar_tensor(scale), p + "scale")}, {}, p + "scaled");
    s = b.add1("Add", {s, mask}, {}, p + "masked");
    auto a = b.add1("Softmax", {s}, {{"axis", int64_t{-1}}}, p + "softmax");
    auto o = b.add1("MatMul", {a, v}, {}, p + "context");
    o = b.add1("Transpose", {o}, {{"perm", std::vector<int64_t>{0, 2, 1, 3}}}, p + "merge");
    o = b.add1("Reshape", {o, b.constant_ints({0, 0, qd}, p + "merge_shape")}, {}, p + "merge_heads");
    return proj(o, p + "o_proj", d, qd);
  }

  std::string mlp(const std::string& x, const std::string& p) {
    const int64_t d = c.hidden_size, f = c.intermediate_size;
    auto g = proj(x, p + "gate_proj", f, d);
    auto silu = b.add1("Mul", {g, b.add1("Sigmoid", {g}, {}, p + "sigmoid")}, {}, p + "silu");
    auto h = b.add1("Mul", {silu, proj(x, p + "up_proj", f, d)}, {}, p + "gated");
    return proj(h, p + "down_proj", d, f);
  }

  std::string block(int64_t layer, const std::string& x, const std::string& cos, const std::string& sin,
                    const std::string& mask) {
    const std::string p = fmt::format("model.layers.{}.", layer);
    auto a = attention(rms_norm(x, p + "input_layernorm"), cos, sin, mask, p + "self_attn.");
    auto h = b.add1("Add", {x, a}, {}, p + "residual_attn");
    auto m = mlp(rms_norm(h, p + "post_attention_layernorm"), p + "mlp.");
    return b.add1("Add", {h, m}, {}, p + "residual_mlp");
  }
};

}  // namespace

at::Tensor llama_weight(const WeightSource& w, const LlamaConfig& c, const std::string& name,
                        const std::vector<int64_t>& shape, const std::string& source) {
  at::Tensor t = w(name);
  if (!t.defined()) {
    Error e("weight missing");
    e.tensor(name).hint("the model must hold every Llama tensor");
    if (!source.empty()) e.file(source);
    throw e;
  }
  if (t.sizes().vec() != shape) {
    Error e("weight shape does not match the config");
    e.tensor(name)
        .expected(ir::shape_string(shape))
        .got(ir::shape_string(t.sizes()))
        .hint(fmt::format("config: hidden_size {}, intermediate_size {}, heads {}/{} (kv), vocab {}", c.hidden_size,
                          c.intermediate_size, c.num_heads, c.num_kv_heads, c.vocab_size));
    if (!source.empty()) e.file(source);
    throw e;
  }
  return t.to(at::kFloat);
}

bool stored_transposed(const std::string& name) {
  auto ends_with = [&](const std::string& s) {
    return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  return ends_with("_proj.weight") || name == "lm_head.weight";
}

WeightSource random_weights(const LlamaConfig& c, uint64_t seed) {
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& t : llama_tensors(c)) shapes[t.name] = t.shape;
  return [shapes, seed](const std::string& name) -> at::Tensor {
    auto it = shapes.find(name);
    if (it == shapes.end()) return {};
    // One generator per tensor, seeded from (seed, name): any tensor can be drawn alone and in any
    // order (streaming) and still get the same values.
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seed ^ std::hash<std::string>{}(name));
    if (it->second.size() == 1) return at::ones(it->second);
    return at::normal(0.0, 0.02, it->second, gen);
  };
}

std::pair<at::Tensor, at::Tensor> rope_tables(const LlamaConfig& c, int64_t T) {
  // inv_freq[i] = theta^(-2i / Dh), angle[t, i] = t * inv_freq[i], duplicated over both halves.
  at::Tensor i = at::arange(0, c.head_dim, 2, at::kDouble);
  at::Tensor inv_freq = at::pow(c.rope_theta, -i / static_cast<double>(c.head_dim));
  at::Tensor angle = at::outer(at::arange(T, at::kDouble), inv_freq);
  angle = at::cat({angle, angle}, -1);
  return {at::cos(angle).to(at::kFloat), at::sin(angle).to(at::kFloat)};
}

at::Tensor causal_mask(int64_t T) {
  return at::full({T, T}, -std::numeric_limits<float>::infinity(), at::kFloat).triu(1);
}

ir::Graph llama_graph(const LlamaConfig& c, const WeightSource& weights) {
  ir::GraphBuilder b("llama", 17);
  BlockBuilder bb{b, c, weights};
  auto ids = b.input("input_ids", ir::DType::Int64, {-1, -1});
  // T from the input, then the rotary tables and the mask sliced / built to T x T.
  auto T = b.add1("Gather", {b.add1("Shape", {ids}, {}, "seq.shape"), b.constant_ints({1}, "seq.axis1")},
                  {{"axis", int64_t{0}}}, "seq.len");  // [1]
  auto [cos_table, sin_table] = rope_tables(c, c.max_position_embeddings);
  auto zero = b.constant_ints({0}, "seq.zero");
  auto cos = b.add1("Slice", {b.constant(cos_table, "rope.cos_table"), zero, T, zero}, {}, "rope.cos");
  auto sin = b.add1("Slice", {b.constant(sin_table, "rope.sin_table"), zero, T, zero}, {}, "rope.sin");
  auto T0 = b.add1("Squeeze", {T, zero}, {}, "seq.len_scalar");
  auto pos = b.add1("Range",
                    {b.constant(at::scalar_tensor(0, at::kLong), "seq.start"), T0,
                     b.constant(at::scalar_tensor(1, at::kLong), "seq.step")},
                    {}, "seq.positions");
  auto rows = b.add1("Unsqueeze", {pos, b.constant_ints({1}, "mask.rows_axis")}, {}, "mask.rows");
  auto cols = b.add1("Unsqueeze", {pos, zero}, {}, "mask.cols");
  auto future = b.add1("Less", {rows, cols}, {}, "mask.future");  // key position after the query
  auto mask = b.add1("Where",
                     {future, b.constant(at::scalar_tensor(-std::numeric_limits<float>::infinity()), "mask.neg_inf"),
                      b.constant(at::scalar_tensor(0.0f), "mask.zero")},
                     {}, "mask");

  const std::string embed = bb.weight("model.embed_tokens.weight", {c.vocab_size, c.hidden_size});
  auto h = b.add1("Gather", {embed, ids}, {{"axis", int64_t{0}}}, "model.embed_tokens");
  for (int64_t i = 0; i < c.num_layers; ++i) h = bb.block(i, h, cos, sin, mask);
  h = bb.rms_norm(h, "model.norm");
  std::string head;
  if (c.tie_word_embeddings)
    head = b.add1("Transpose", {embed}, {{"perm", std::vector<int64_t>{1, 0}}}, "lm_head.tied");
  else
    head = bb.weight("lm_head.weight", {c.vocab_size, c.hidden_size});
  b.output(b.add1("MatMul", {h, head}, {}, "lm_head"), "logits");
  ir::Graph g = b.finish();
  g.metadata["pare.llama_config"] = c.to_json().dump();
  return g;
}

at::Tensor round_activation(const at::Tensor& x, const std::string& format) {
  if (format.empty()) return x;
  if (format == "f16") return x.to(at::kHalf).to(at::kFloat);
  PARE_ASSERT(format == "q8_0" && x.size(-1) % 32 == 0, "round_activation: q8_0 needs a multiple of 32");
  std::vector<int64_t> shape = x.sizes().vec();
  shape.back() /= 32;
  shape.push_back(32);
  const at::Tensor blocks = x.reshape(shape);
  const at::Tensor d = blocks.abs().amax(-1, true) / 127.0f;
  const at::Tensor q = at::round(blocks * at::reciprocal(at::clamp_min(d, 1e-30f)));
  return (q * d.to(at::kHalf).to(at::kFloat)).reshape(x.sizes());
}

ir::Graph llama_block_graph(const LlamaConfig& c, int64_t layer, const WeightSource& weights,
                            const ActivationRounding& rounding, const std::string& input, const std::string& output) {
  if (layer < 0 || layer >= c.num_layers)
    throw Error(fmt::format("layer {} out of range", layer)).expected(fmt::format("0 to {}", c.num_layers - 1));
  ir::GraphBuilder b(fmt::format("llama.layer{}", layer), 17);
  BlockBuilder bb{b, c, weights, rounding};
  auto x = b.input(input, ir::DType::Float, {-1, -1, c.hidden_size});
  auto cos = b.input("cos", ir::DType::Float, {-1, c.head_dim});
  auto sin = b.input("sin", ir::DType::Float, {-1, c.head_dim});
  auto mask = b.input("mask", ir::DType::Float, {-1, -1});
  b.output(bb.block(layer, x, cos, sin, mask), output);
  return b.finish();
}

ir::Graph llama_embedding_graph(const LlamaConfig& c, const WeightSource& weights, const std::string& output) {
  ir::GraphBuilder b("llama.embeddings", 17);
  BlockBuilder bb{b, c, weights};
  auto ids = b.input("input_ids", ir::DType::Int64, {-1, -1});
  const std::string embed = bb.weight("model.embed_tokens.weight", {c.vocab_size, c.hidden_size});
  b.output(b.add1("Gather", {embed, ids}, {{"axis", int64_t{0}}}, "model.embed_tokens"), output);
  return b.finish();
}

ir::Graph llama_head_graph(const LlamaConfig& c, const WeightSource& weights, const ActivationRounding& rounding,
                           const std::string& input) {
  ir::GraphBuilder b("llama.head", 17);
  BlockBuilder bb{b, c, weights, rounding};
  auto h = bb.rms_norm(b.input(input, ir::DType::Float, {-1, -1, c.hidden_size}), "model.norm");
  if (c.tie_word_embeddings) {
    const std::string embed = bb.weight("model.embed_tokens.weight", {c.vocab_size, c.hidden_size});
    const std::string format = rounding ? rounding("model.embed_tokens.weight") : "";
    if (!format.empty()) h = bb.round_input(h, format, c.hidden_size, "lm_head.input");
    auto head = b.add1("Transpose", {embed}, {{"perm", std::vector<int64_t>{1, 0}}}, "lm_head.tied");
    b.output(b.add1("MatMul", {h, head}, {}, "lm_head"), "logits");
  } else {
    b.output(bb.proj(h, "lm_head", c.vocab_size, c.hidden_size), "logits");
  }
  return b.finish();
}

std::vector<std::pair<std::string, at::Tensor>> llama_weights(const ir::Graph& g, const LlamaConfig& c) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& t : llama_tensors(c)) {
    auto it = g.initializers.find(t.name);
    if (it == g.initializers.end())
      throw Error("the graph lacks a Llama weight").tensor(t.name).hint("is this graph built by llama_graph?");
    at::Tensor w = stored_transposed(t.name) ? it->second.t().contiguous() : it->second;
    if (w.sizes().vec() != t.shape)
      throw Error("weight shape does not match the config")
          .tensor(t.name)
          .expected(ir::shape_string(t.shape))
          .got(ir::shape_string(w.sizes()));
    out.emplace_back(t.name, w);
  }
  return out;
}

}  // namespace pare::llm
