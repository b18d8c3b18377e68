#include "pare/quant/observers/bn_statistics.h"

#include <cmath>
#include <limits>

#include "pare/error.h"
#include "pare/quant/scale_search.h"

namespace pare::quant {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

at::Tensor dbl(const at::Tensor& t) { return t.detach().to(at::kDouble).flatten().contiguous(); }
at::Tensor col(const at::Tensor& t) { return t.unsqueeze(1); }

std::optional<at::Tensor> constant_of(const ir::Graph& g, const std::string& v) {
  if (v.empty()) return std::nullopt;
  if (auto it = g.initializers.find(v); it != g.initializers.end()) return it->second;
  auto p = g.producer(v);
  if (!p || g.nodes[*p].op_type != "Constant") return std::nullopt;
  const ir::Node& n = g.nodes[*p];
  if (const ir::Attribute* a = n.attr("value"); a && a->kind == ir::Attribute::Kind::Tensor) return a->t;
  if (const ir::Attribute* a = n.attr("value_float")) return at::scalar_tensor(a->f, at::kDouble);
  return std::nullopt;
}

// A constant that broadcasts against a value whose channel axis is `axis` as a scalar or one number per
// channel: returned as [C] double. Anything else (spatially varying) is not representable: nullopt.
std::optional<at::Tensor> per_channel(const at::Tensor& c, int64_t channels, int64_t axis) {
  const at::Tensor t = dbl(c);
  if (t.numel() == 1) return t.expand({channels}).clone();
  if (t.numel() != channels) return std::nullopt;
  int64_t d = -1;
  for (int64_t i = 0; i < c.dim(); ++i) {
    if (c.size(i) == 1) continue;
    if (d >= 0) return std::nullopt;
    d = i;
  }
  const int64_t trailing = c.dim() - 1 - d;
  // [1, C, ...] or [C, 1, 1] against NCHW / [N, C]; [..., C] against a last-axis channel.
  const bool ok = axis == -1 ? trailing == 0 : ((d == 1) || (d == 0 && trailing == 2));
  return ok ? std::optional<at::Tensor>(t) : std::nullopt;
}

at::Tensor normal_cdf(const at::Tensor& x) { return 0.5 * (1 + at::erf(x * M_SQRT1_2)); }
at::Tensor normal_pdf(const at::Tensor& x) { return at::exp(-0.5 * x * x) / std::sqrt(2 * M_PI); }

// Mean and std of clamp(Z, a, b), Z ~ N(mu, sigma^2), per channel; a, b may be infinite. Closed form:
// E[Y] = a Phi(al) + b (1 - Phi(be)) + mu (Phi(be) - Phi(al)) + sigma (phi(al) - phi(be)),
// E[Y^2] = a^2 Phi(al) + b^2 (1 - Phi(be)) + (mu^2 + sigma^2)(Phi(be) - Phi(al))
//          + 2 mu sigma (phi(al) - phi(be)) + sigma^2 (al phi(al) - be phi(be)),  al = (a - mu)/sigma, ...
std::pair<at::Tensor, at::Tensor> clamp_moments(const at::Tensor& mu, const at::Tensor& sigma, const at::Tensor& a,
                                                const at::Tensor& b) {
  const at::Tensor s = sigma.clamp_min(1e-300);
  const at::Tensor al = (a - mu) / s, be = (b - mu) / s;
  const at::Tensor pa = normal_pdf(al), pb = normal_pdf(be), ca = normal_cdf(al), cb = normal_cdf(be);
  const at::Tensor zero = at::zeros_like(mu);
  // Terms with an infinite bound vanish (their probability is 0); written out to avoid inf * 0.
  const at::Tensor a_lo = at::where(at::isinf(a), zero, a * ca), a2_lo = at::where(at::isinf(a), zero, a * a * ca);
  const at::Tensor b_hi = at::where(at::isinf(b), zero, b * (1 - cb)),
                   b2_hi = at::where(at::isinf(b), zero, b * b * (1 - cb));
  const at::Tensor al_pa = at::where(at::isinf(al), zero, al * pa), be_pb = at::where(at::isinf(be), zero, be * pb);
  const at::Tensor mid = cb - ca;
  const at::Tensor m1 = a_lo + b_hi + mu * mid + s * (pa - pb);
  const at::Tensor m2 = a2_lo + b2_hi + (mu * mu + s * s) * mid + 2 * mu * s * (pa - pb) + s * s * (al_pa - be_pb);
  const at::Tensor sd = (m2 - m1 * m1).clamp_min(0).sqrt();
  const at::Tensor point = sigma <= 0;  // a constant channel: clamp(mu)
  return {at::where(point, at::maximum(at::minimum(mu, b), a), m1), at::where(point, zero, sd)};
}

// Mean and std of act(z) by quadrature on a fine grid of z (for acts without a closed form, e.g. GELU).
std::pair<at::Tensor, at::Tensor> numeric_moments(const ChannelStats& s) {
  const at::Tensor t = at::linspace(-8.0, 8.0, 1601, at::kDouble);
  at::Tensor w = at::exp(-0.5 * t * t);
  w = w / w.sum();
  const at::Tensor f = s.apply(col(s.pre_mean) + col(s.pre_std) * t.unsqueeze(0));
  const at::Tensor m = (f * w).sum(1);
  return {m, (((f - col(m)).pow(2)) * w).sum(1).sqrt()};
}

ChannelStats gaussian(const at::Tensor& mean, const at::Tensor& std, int64_t axis, const std::string& root,
                      const std::string& source, bool from_bn) {
  ChannelStats s;
  s.mean = s.pre_mean = dbl(mean);
  s.std = s.pre_std = dbl(std).abs();
  s.axis = axis;
  s.root = root;
  s.source = source;
  s.exact_from_bn = from_bn;
  return s;
}

ChannelStats then(const ChannelStats& x, const std::string& what, bool keeps_exact = false) {
  ChannelStats o = x;
  o.source = x.source + " -> " + what;
  o.exact_from_bn = x.exact_from_bn && keeps_exact;
  return o;
}

// clamp(x, a, b): composes into the clip bounds (closed-form moments) unless x already has a general act.
ChannelStats with_clip(const ChannelStats& x, double a, double b, const std::string& what) {
  ChannelStats o = then(x, what, true);
  if (x.act) {
    o.act = [p = x, a, b](const at::Tensor& z) { return p.apply(z).clamp(a, b); };
    std::tie(o.mean, o.std) = numeric_moments(o);
    return o;
  }
  const at::Tensor lo = x.clip_lo.defined() ? x.clip_lo : at::full_like(x.mean, -kInf);
  const at::Tensor hi = x.clip_hi.defined() ? x.clip_hi : at::full_like(x.mean, kInf);
  // clamp(clamp(z, lo, hi), a, b) = clamp(z, min(max(lo, a), b), max(min(hi, b), a)), also when disjoint.
  o.clip_lo = lo.clamp_min(a).clamp_max(b);
  o.clip_hi = hi.clamp_max(b).clamp_min(a);
  std::tie(o.mean, o.std) = clamp_moments(o.pre_mean, o.pre_std, o.clip_lo, o.clip_hi);
  return o;
}

ChannelStats with_fn(const ChannelStats& x, std::function<at::Tensor(const at::Tensor&)> fn, const std::string& what) {
  ChannelStats o = then(x, what);
  o.act = [p = x, fn](const at::Tensor& z) { return fn(p.apply(z)); };
  o.clip_lo = o.clip_hi = at::Tensor();
  std::tie(o.mean, o.std) = numeric_moments(o);
  return o;
}

// x * a + b with per-channel a, b: exact on the model (z and its root stay, act absorbs the map).
ChannelStats affine(const ChannelStats& x, const at::Tensor& a, const at::Tensor& b, const std::string& what) {
  ChannelStats o = then(x, what);
  o.mean = x.mean * a + b;
  o.std = x.std * a.abs();
  o.act = [p = x, a = col(a), b = col(b)](const at::Tensor& z) { return p.apply(z) * a + b; };
  o.clip_lo = o.clip_hi = at::Tensor();
  return o;
}

bool same_root(const ChannelStats& x, const ChannelStats& y) {
  return x.root == y.root && x.channels() == y.channels() && x.axis == y.axis && at::equal(x.pre_mean, y.pre_mean) &&
         at::equal(x.pre_std, y.pre_std);
}

int64_t int_attr(const ir::Node& n, const std::string& key, int64_t fallback) {
  const ir::Attribute* a = n.attr(key);
  return a ? a->i : fallback;
}

std::optional<ChannelStats> binary(const ir::Graph& g, const ir::Node& n, const ChannelStats* x, const ChannelStats* y,
                                   const StatsOptions& opt) {
  const std::string& op = n.op_type;
  if (x && y) {
    if (same_root(*x, *y)) {  // e.g. x * (1 + erf(x / sqrt 2)): one z, evaluate the expression on it
      ChannelStats o = then(*x, op + " with " + y->source);
      o.act = [p = *x, q = *y, op](const at::Tensor& z) {
        const at::Tensor u = p.apply(z), v = q.apply(z);
        return op == "Add" ? u + v : op == "Sub" ? u - v : op == "Mul" ? u * v : u / v;
      };
      o.clip_lo = o.clip_hi = at::Tensor();
      std::tie(o.mean, o.std) = numeric_moments(o);
      return o;
    }
    if ((op != "Add" && op != "Sub") || !x->channels_known || !y->channels_known || x->axis != y->axis ||
        x->channels() != y->channels())
      return std::nullopt;
    // Independent summands: means add, variances add; the sum is modelled Gaussian (moment matching).
    const at::Tensor m = op == "Add" ? x->mean + y->mean : x->mean - y->mean;
    const at::Tensor sd = opt.sum_std_bound ? x->std + y->std : (x->std.pow(2) + y->std.pow(2)).sqrt();
    return gaussian(m, sd, x->axis, n.outputs[0], op + "(" + x->source + ", " + y->source + ")", false);
  }
  // One operand modelled, the other a scalar or per-channel constant: affine.
  const bool first = x != nullptr;
  const ChannelStats* s = first ? x : y;
  if (!s) return std::nullopt;
  auto c_raw = constant_of(g, n.inputs[first ? 1 : 0]);
  if (!c_raw) return std::nullopt;
  auto c = per_channel(*c_raw, s->channels(), s->axis);
  if (!c) return std::nullopt;
  const at::Tensor one = at::ones_like(*c), zero = at::zeros_like(*c);
  if (op == "Add") return affine(*s, one, *c, "add const");
  if (op == "Mul") return affine(*s, *c, zero, "mul const");
  if (op == "Sub") return first ? affine(*s, one, -*c, "sub const") : affine(*s, -one, *c, "const sub");
  if (op == "Div" && first && (*c != 0).all().item<bool>()) return affine(*s, 1.0 / *c, zero, "div const");
  return std::nullopt;
}

std::optional<ChannelStats> propagate(const ir::Graph& g, const ir::Node& n,
                                      const std::map<std::string, ChannelStats>& st, const StatsOptions& o) {
  auto known = [&](size_t i) -> const ChannelStats* {
    if (i >= n.inputs.size()) return nullptr;
    auto it = st.find(n.inputs[i]);
    return it == st.end() ? nullptr : &it->second;
  };
  const std::string& op = n.op_type;
  const std::string& out = n.outputs[0];
  if (op == "BatchNormalization") {
    if (n.inputs.size() < 3) return std::nullopt;
    auto gamma = constant_of(g, n.inputs[1]), beta = constant_of(g, n.inputs[2]);
    if (!gamma || !beta || gamma->numel() != beta->numel()) return std::nullopt;
    return gaussian(*beta, *gamma, 1, out, "bn:" + n.name, true);
  }
  if (op == "LayerNormalization" && o.transformer_fallback) {
    // Nagel's BN assumption carried over to LN's affine output (see header); last axis only.
    if (int_attr(n, "axis", -1) != -1 || n.inputs.size() < 2) return std::nullopt;
    auto gamma = constant_of(g, n.inputs[1]);
    auto beta = n.inputs.size() > 2 ? constant_of(g, n.inputs[2]) : std::nullopt;
    if (!gamma) return std::nullopt;
    const at::Tensor b = beta ? *beta : at::zeros_like(*gamma);
    if (b.numel() != gamma->numel()) return std::nullopt;
    return gaussian(b, *gamma, -1, out, "layernorm:" + n.name, false);
  }
  const ChannelStats* x = known(0);
  if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div") return binary(g, n, x, known(1), o);
  if (op == "MatMul" && o.transformer_fallback) {
    // Softmax(.) @ V: each output row is a convex combination of V's rows, so V's range bounds it.
    if (auto p = g.producer(n.inputs[0]); p && g.nodes[*p].op_type == "Softmax" && known(1))
      return then(*known(1), "attention " + n.name);
    auto w = constant_of(g, n.inputs[1]);
    if (!x || !w || w->dim() != 2 || !x->channels_known || x->axis != -1 || w->size(0) != x->channels())
      return std::nullopt;
    const at::Tensor wd = w->to(at::kDouble);
    return gaussian(wd.t().matmul(x->mean), wd.pow(2).t().matmul(x->std.pow(2)).sqrt(), -1, out,
                    "linear:" + n.name + " of " + x->source, false);
  }
  if (!x) return std::nullopt;
  if (op == "Relu") return with_clip(*x, 0, kInf, "relu");
  if (op == "Clip") {
    double lo = -kInf, hi = kInf;
    for (size_t i : {size_t{1}, size_t{2}}) {
      if (i >= n.inputs.size() || n.inputs[i].empty()) continue;
      auto c = constant_of(g, n.inputs[i]);
      if (!c || c->numel() != 1) return std::nullopt;
      (i == 1 ? lo : hi) = c->item<double>();
    }
    if (const ir::Attribute* a = n.attr("min")) lo = a->f;  // opset < 11
    if (const ir::Attribute* a = n.attr("max")) hi = a->f;
    return with_clip(*x, lo, hi, "clip");
  }
  if (op == "Erf")
    return with_fn(
        *x, [](const at::Tensor& v) { return at::erf(v); }, "erf");
  if (op == "Sigmoid")
    return with_fn(
        *x, [](const at::Tensor& v) { return at::sigmoid(v); }, "sigmoid");
  if (op == "Tanh")
    return with_fn(
        *x, [](const at::Tensor& v) { return at::tanh(v); }, "tanh");
  if (op == "MaxPool" || op == "AveragePool" || op == "GlobalAveragePool" || op == "GlobalMaxPool" ||
      op == "Identity" || op == "Dropout")
    return then(*x, op, true);
  if (op == "Flatten") {
    if (x->axis != 1 || int_attr(n, "axis", 1) != 1) return std::nullopt;
    return then(*x, op, true);  // channel c becomes the feature block c (NCHW order)
  }
  if (op == "Reshape" || op == "Transpose") {
    int64_t axis = -2;                              // -2: the channel's position is lost
    if (op == "Reshape" && x->axis == 1) axis = 1;  // assumed flatten-like ([N, C, ...] -> [N, C*...])
    if (op == "Transpose" && n.attr("perm")) {
      const auto& perm = n.attr("perm")->ints;
      const int64_t r = static_cast<int64_t>(perm.size()), from = x->axis == 1 ? 1 : r - 1;
      for (int64_t j = 0; j < r; ++j)
        if (perm[static_cast<size_t>(j)] == from) axis = j == r - 1 ? -1 : j == 1 ? 1 : -2;
    }
    ChannelStats s = then(*x, op, true);
    if (axis == -2)
      s.channels_known = false;
    else
      s.axis = axis;
    return s;
  }
  if (op == "Gather") {
    // Picking positions along another axis leaves the channel axis alone (e.g. the ViT class token).
    const int64_t ga = int_attr(n, "axis", 0);
    if ((x->axis == -1 && ga != -1) || (x->axis == 1 && ga >= 2)) return then(*x, op, true);
  }
  return std::nullopt;
}

// The graph input modelled from the graph's own normalization: input -> Sub(mean) -> Mul(1/std) | Div(std).
void seed_inputs(const ir::Graph& g, const StatsOptions& o, std::map<std::string, ChannelStats>& st) {
  for (const ir::ValueInfo& in : g.inputs) {
    auto sub = g.consumers(in.name);
    if (sub.size() != 1) continue;
    const ir::Node& s = g.nodes[sub[0]];
    if (s.op_type != "Sub" || s.inputs[0] != in.name) continue;
    auto mean = constant_of(g, s.inputs[1]);
    auto scale = g.consumers(s.outputs[0]);
    if (!mean || scale.size() != 1) continue;
    const ir::Node& m = g.nodes[scale[0]];
    if ((m.op_type != "Mul" && m.op_type != "Div") || m.inputs[0] != s.outputs[0]) continue;
    auto k = constant_of(g, m.inputs[1]);
    if (!k) continue;
    const int64_t channels = std::max(mean->numel(), k->numel());
    auto mc = per_channel(*mean, channels, 1), kc = per_channel(*k, channels, 1);
    if (!mc || !kc || (*kc == 0).any().item<bool>()) continue;
    const at::Tensor sd = m.op_type == "Mul" ? 1.0 / kc->abs() : kc->abs();
    ChannelStats x = gaussian(*mc, sd, 1, in.name, "input normalization constants", false);
    if (o.input_range) {
      // The range is bounded; the moments stay those the constants state.
      x.clip_lo = at::full_like(x.mean, o.input_range->first);
      x.clip_hi = at::full_like(x.mean, o.input_range->second);
      x.source += " in [" + std::to_string(o.input_range->first) + ", " + std::to_string(o.input_range->second) + "]";
    }
    st[in.name] = x;
  }
}

}  // namespace

at::Tensor ChannelStats::apply(const at::Tensor& z) const {
  if (act) return act(z);
  if (!clip_lo.defined()) return z;
  return at::maximum(at::minimum(z, col(clip_hi)), col(clip_lo));
}

std::pair<at::Tensor, at::Tensor> ChannelStats::range(double k) const {
  if (!act) {  // identity or a clamp: monotone, the ends of the z interval suffice
    return {apply(col(pre_mean - k * pre_std)).squeeze(1), apply(col(pre_mean + k * pre_std)).squeeze(1)};
  }
  const at::Tensor f = apply(col(pre_mean) + col(pre_std) * at::linspace(-k, k, 513, at::kDouble).unsqueeze(0));
  return {std::get<0>(f.min(1)), std::get<0>(f.max(1))};
}

void ChannelStats::rescale(const at::Tensor& s_in) {
  const at::Tensor s = dbl(s_in);
  mean = mean / s;
  std = std / s;
  pre_mean = pre_mean / s;
  pre_std = pre_std / s;
  if (clip_lo.defined()) {
    clip_lo = clip_lo / s;
    clip_hi = clip_hi / s;
  }
  // New z' = z / s, value' = value / s = act(z' s) / s.
  if (act) act = [f = act, s = col(s)](const at::Tensor& z) { return f(z * s) / s; };
}

ChannelStats clipped(const ChannelStats& x, double lo, double hi) { return with_clip(x, lo, hi, "clip"); }

std::map<std::string, ChannelStats> bn_value_statistics(const ir::Graph& g, const StatsOptions& o) {
  std::map<std::string, ChannelStats> st;
  seed_inputs(g, o, st);
  for (const ir::Node& n : g.nodes) {
    if (!n.domain.empty() || n.outputs.empty() || n.outputs[0].empty() || st.count(n.outputs[0])) continue;
    if (auto s = propagate(g, n, st, o)) st[n.outputs[0]] = std::move(*s);
  }
  return st;
}

std::vector<ActivationQuant> data_free_activation_ranges(const ir::Graph& g,
                                                         const std::map<std::string, ChannelStats>& stats,
                                                         const std::vector<LayerPlan>& plans, double k,
                                                         std::map<std::string, std::string>* sources) {
  struct Wanted {
    int bits;
    std::string reader;
  };
  std::map<std::string, Wanted> wanted;  // activation -> smallest bit width requested, a layer reading it
  for (const auto& p : plans) {
    if (!p.quantize || p.abits == 0 || p.layer.activation_input < 0) continue;
    auto id = g.find_node(p.layer.node);
    PARE_ASSERT(id.has_value(), "planned node missing");
    const std::string& v = g.nodes[*id].inputs[static_cast<size_t>(p.layer.activation_input)];
    auto it = wanted.find(v);
    if (it == wanted.end())
      wanted[v] = {p.abits, p.layer.node};
    else
      it->second.bits = std::min(it->second.bits, p.abits);
  }
  std::vector<ActivationQuant> out;
  for (const auto& [v, w] : wanted) {
    auto it = stats.find(v);
    if (it == stats.end())
      throw Error(
          "data-free activation ranges need BatchNorm statistics upstream of every quantized layer's input "
          "(or a LayerNormalization, for transformers); this layer's input has none")
          .node(w.reader)
          .tensor(v)
          .hint("--abits 0 (weights only) or a data-driven method with --calib");
    const auto [lo_c, hi_c] = it->second.range(k);
    const double lo = lo_c.min().item<double>(), hi = hi_c.max().item<double>();
    if (!std::isfinite(lo) || !std::isfinite(hi))
      throw Error("data-free activation range is not finite").node(w.reader).tensor(v).got(it->second.source);
    ActivationQuant a;
    a.value = v;
    a.grid = Grid::uniform(w.bits, /*symmetric=*/false, /*is_signed=*/false);
    RowScales s = scales_for_range(at::full({1, 1}, lo, at::kFloat), at::full({1, 1}, hi, at::kFloat), a.grid);
    s.scale = s.scale.reshape({});
    a.scale = at::where(s.scale > 0, s.scale, at::ones_like(s.scale)).contiguous();
    a.zero_point = s.zero_point.reshape({}).to(at::kByte).contiguous();
    a.observed_min = lo;
    a.observed_max = hi;
    out.push_back(a);
    if (sources) (*sources)[v] = it->second.source;
  }
  return out;
}

}  // namespace pare::quant
