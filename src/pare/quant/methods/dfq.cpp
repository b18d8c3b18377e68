#include "pare/quant/methods/dfq.h"

#include <cmath>
#include <limits>
#include <optional>
#include <sstream>

#include "pare/error.h"

namespace pare::quant {

namespace {

int64_t int_attr(const ir::Node& n, const std::string& key, int64_t fallback) {
  const ir::Attribute* a = n.attr(key);
  return a ? a->i : fallback;
}

double float_attr(const ir::Node& n, const std::string& key, double fallback) {
  const ir::Attribute* a = n.attr(key);
  return a ? a->f : fallback;
}

std::string input(const ir::Node& n, size_t i) { return i < n.inputs.size() ? n.inputs[i] : std::string(); }

std::optional<at::Tensor> constant_of(const ir::Graph& g, const std::string& v) {
  if (v.empty()) return std::nullopt;
  if (auto it = g.initializers.find(v); it != g.initializers.end()) return it->second;
  auto p = g.producer(v);
  if (!p || g.nodes[*p].op_type != "Constant") return std::nullopt;
  const ir::Attribute* a = g.nodes[*p].attr("value");
  if (a && a->kind == ir::Attribute::Kind::Tensor) return a->t;
  return std::nullopt;
}

// How many nodes read `value` (as any input).
size_t readers(const ir::Graph& g, const std::string& value) {
  size_t k = 0;
  for (const auto& n : g.nodes)
    for (const auto& in : n.inputs) k += in == value;
  return k;
}

// A Conv or Gemm whose weight (and bias, if any) are float initializers only it reads.
struct Linear {
  std::string weight, bias;  // bias "" when absent
  int64_t out_axis = 0;      // output channels of the weight
  int64_t group = 1;         // Conv only
  bool gemm = false;
  bool trans_b = false;
};

std::optional<Linear> linear_layer(const ir::Graph& g, const ir::Node& n) {
  if (!n.domain.empty() || n.outputs.size() != 1) return std::nullopt;
  Linear l;
  l.weight = input(n, 1);
  l.bias = input(n, 2);
  auto w = g.initializers.find(l.weight);
  if (w == g.initializers.end() || !w->second.is_floating_point() || readers(g, l.weight) != 1) return std::nullopt;
  if (!l.bias.empty() && (!g.is_initializer(l.bias) || readers(g, l.bias) != 1)) return std::nullopt;
  if (n.op_type == "Conv" && w->second.dim() >= 3) {
    l.group = int_attr(n, "group", 1);
    return l;
  }
  if (n.op_type == "Gemm" && w->second.dim() == 2 && int_attr(n, "transA", 0) == 0) {
    l.gemm = true;
    l.trans_b = int_attr(n, "transB", 0) != 0;
    l.out_axis = l.trans_b ? 0 : 1;
    if (!l.bias.empty() && g.initializers.at(l.bias).numel() != w->second.size(l.out_axis)) return std::nullopt;
    return l;
  }
  return std::nullopt;
}

int64_t out_channels(const ir::Graph& g, const Linear& l) { return g.initializers.at(l.weight).size(l.out_axis); }

int64_t in_channels(const ir::Graph& g, const Linear& l) {
  const at::Tensor& w = g.initializers.at(l.weight);
  return l.gemm ? w.size(1 - l.out_axis) : w.size(1) * l.group;
}

// Shape that puts a [C] vector on axis `axis` of a rank-`rank` tensor.
std::vector<int64_t> on_axis(int64_t rank, int64_t axis, int64_t c) {
  std::vector<int64_t> shape(static_cast<size_t>(rank), 1);
  shape[static_cast<size_t>(axis)] = c;
  return shape;
}

// For a Conv weight [O, I/g, k...]: the input channel each (o, j) reads, [O, I/g] int64.
at::Tensor conv_input_index(const at::Tensor& w, int64_t group) {
  const int64_t o = w.size(0), cpg = w.size(1);
  const at::Tensor grp = at::arange(o, at::kLong).div(o / group, "floor");
  return grp.unsqueeze(1) * cpg + at::arange(cpg, at::kLong).unsqueeze(0);
}

// max |W| per output channel, [O] double.
at::Tensor out_range(const at::Tensor& w, int64_t out_axis) {
  return w.abs().to(at::kDouble).movedim(out_axis, 0).flatten(1).amax(1);
}

// max |W| per input channel, [C] double.
at::Tensor in_range(const at::Tensor& w, const Linear& l) {
  const at::Tensor a = w.abs().to(at::kDouble);
  if (l.gemm) return a.amax(l.out_axis);
  // Conv [O, I/g, k...]: group i's filters (rows i*O/g ...) read input channels i*I/g ...
  const at::Tensor per = a.flatten(2).amax(2);  // [O, I/g]
  std::vector<at::Tensor> groups;
  for (const at::Tensor& rows : per.chunk(l.group, 0)) groups.push_back(rows.amax(0));
  return at::cat(groups);
}

// W2 multiplied by s along its input channels.
at::Tensor scale_inputs(const at::Tensor& w, const Linear& l, const at::Tensor& s) {
  const at::Tensor sf = s.to(w.scalar_type());
  if (l.gemm) return w * sf.reshape(on_axis(2, 1 - l.out_axis, sf.numel()));
  std::vector<int64_t> shape{w.size(0), w.size(1)};
  shape.resize(static_cast<size_t>(w.dim()), 1);
  return w * sf.index({conv_input_index(w, l.group)}).reshape(shape);
}

struct Pair {
  std::string n1, n2;  // layer nodes
  std::string v1, a;   // layer1's output; the value layer2 reads (== v1 without activation)
  std::string bound;   // per-channel upper bound initializer of a rewritten Clip, "" none
};

std::optional<double> clip_bound(const ir::Graph& g, const ir::Node& n) {
  // Clip(0, c), c > 0 finite: ReLU6 and relatives.
  auto lo = constant_of(g, input(n, 1)), hi = constant_of(g, input(n, 2));
  if (!lo || !hi || lo->numel() != 1 || hi->numel() != 1 || lo->item<double>() != 0) return std::nullopt;
  const double c = hi->item<double>();
  return c > 0 && std::isfinite(c) ? std::optional<double>(c) : std::nullopt;
}

std::vector<Pair> find_pairs(const ir::Graph& g, const CleOptions& o, std::vector<std::string>& clips) {
  std::vector<Pair> pairs;
  for (const ir::Node& n1 : g.nodes) {
    auto l1 = linear_layer(g, n1);
    if (!l1) continue;
    Pair p{n1.name, "", n1.outputs[0], n1.outputs[0], ""};
    auto single_reader = [&](const std::string& v) -> const ir::Node* {
      auto c = g.consumers(v);
      return c.size() == 1 && !g.is_output(v) ? &g.nodes[c[0]] : nullptr;
    };
    const ir::Node* next = single_reader(p.v1);
    if (!next) continue;
    std::string clip;
    if (next->op_type == "Relu" ||
        (next->op_type == "Clip" && o.relu6 != CleOptions::Relu6::Skip && clip_bound(g, *next))) {
      if (next->op_type == "Clip") clip = next->name;
      p.a = next->outputs[0];
      next = single_reader(p.a);
      if (!next) continue;
    } else if (!o.linear_pairs) {
      continue;
    }
    auto l2 = linear_layer(g, *next);
    if (!l2 || next->inputs[0] != p.a || in_channels(g, *l2) != out_channels(g, *l1)) continue;
    p.n2 = next->name;
    if (!clip.empty()) clips.push_back(clip);
    pairs.push_back(p);
  }
  return pairs;
}

// Rewrites Clip(0, c) between a pair as Relu -> Min(per-channel bound) (or Relu alone), keeping its output
// name; returns the bound initializer's name ("" for Relu alone).
std::string rewrite_clip(ir::Graph& g, const std::string& clip_name, int64_t channels, int64_t rank,
                         const CleOptions& o, std::map<std::string, ChannelStats>& stats) {
  const ir::NodeId id = *g.find_node(clip_name);
  const ir::Node clip = g.nodes[id];
  const double c = *clip_bound(g, clip);
  ir::Node relu;
  relu.op_type = "Relu";
  relu.inputs = {clip.inputs[0]};
  if (o.relu6 == CleOptions::Relu6::ReplaceWithRelu) {
    relu.name = clip.name;
    relu.outputs = clip.outputs;
    g.replace_node(id, {relu});
    if (auto in = stats.find(clip.inputs[0]); in != stats.end()) {
      ChannelStats s = clipped(in->second, 0, std::numeric_limits<double>::infinity());
      s.source += " (ReLU6 replaced by ReLU for equalization)";
      stats[clip.outputs[0]] = s;
    }
    return "";
  }
  relu.name = g.unique_name(clip.name + ".relu");
  relu.outputs = {g.unique_name(clip.name + ".relu:out")};
  const std::string bound = g.unique_name(clip.name + ".bound");
  // Conv outputs have the weight's rank; Gemm outputs are [N, C].
  g.initializers[bound] = at::full(on_axis(rank, 1, channels), c, at::kFloat);
  ir::Node min;
  min.name = clip.name;
  min.op_type = "Min";
  min.inputs = {relu.outputs[0], bound};
  min.outputs = clip.outputs;
  g.replace_node(id, {relu, min});
  return bound;
}

std::string join(const std::string& a, const std::string& b) { return a.empty() ? b : a + "; " + b; }

}  // namespace

DfqLayerReport& DfqReport::layer(const std::string& node) {
  for (auto& l : layers)
    if (l.node == node) return l;
  layers.push_back({node, false, false, ""});
  return layers.back();
}

DfqReport cross_layer_equalize(ir::Graph& g, std::map<std::string, ChannelStats>& stats, const CleOptions& o) {
  DfqReport report;
  std::vector<std::string> clips;
  std::vector<Pair> pairs = find_pairs(g, o, clips);
  for (Pair& p : pairs) {
    const ir::Node& n1 = g.nodes[*g.find_node(p.n1)];
    const Linear l1 = *linear_layer(g, n1);
    auto c = g.consumers(p.v1);
    if (c.size() == 1 && g.nodes[c[0]].op_type == "Clip") {
      const at::Tensor& w1 = g.initializers.at(l1.weight);
      p.bound = rewrite_clip(g, g.nodes[c[0]].name, out_channels(g, l1), l1.gemm ? 2 : w1.dim(), o, stats);
    }
    report.layer(p.n1).equalized = true;
    report.layer(p.n2).equalized = true;
  }
  report.pairs = static_cast<int>(pairs.size());
  for (int sweep = 1; sweep <= o.max_sweeps && !pairs.empty(); ++sweep) {
    double change = 0;
    for (const Pair& p : pairs) {
      const Linear l1 = *linear_layer(g, g.nodes[*g.find_node(p.n1)]);
      const Linear l2 = *linear_layer(g, g.nodes[*g.find_node(p.n2)]);
      at::Tensor& w1 = g.initializers.at(l1.weight);
      at::Tensor& w2 = g.initializers.at(l2.weight);
      const at::Tensor r1 = out_range(w1, l1.out_axis), r2 = in_range(w2, l2);
      // A dead channel on either side has nothing to balance: leave it.
      const at::Tensor s = at::where((r1 > 0) & (r2 > 0), (r1 / r2).sqrt(), at::ones_like(r1));
      change = std::max(change, s.log().abs().max().item<double>());
      const at::Tensor s1 = s.to(w1.scalar_type());
      w1 = w1 / s1.reshape(on_axis(w1.dim(), l1.out_axis, s1.numel()));  // new tensors: never edit shared storage
      if (!l1.bias.empty()) {
        at::Tensor& b1 = g.initializers.at(l1.bias);
        b1 = (b1.flatten() / s1).reshape(b1.sizes());
      }
      w2 = scale_inputs(w2, l2, s);
      if (!p.bound.empty()) {
        at::Tensor& b = g.initializers.at(p.bound);
        b = (b.flatten() / s.to(b.scalar_type())).reshape(b.sizes());
      }
      if (auto it = stats.find(p.v1); it != stats.end()) it->second.rescale(s);
      if (p.a != p.v1)
        if (auto it = stats.find(p.a); it != stats.end()) it->second.rescale(s);
    }
    report.sweeps = sweep;
    report.last_change = change;
    if (change < std::log1p(o.tolerance)) break;
  }
  return report;
}

void correct_biases(ir::Graph& g, const ir::Graph& fg, const std::vector<QuantizedLayer>& layers,
                    const std::map<std::string, ChannelStats>& stats, DfqReport& report) {
  for (const QuantizedLayer& ql : layers) {
    const LayerPlan& p = ql.plan;
    if (!p.quantize || !ql.weight.main.codes.defined()) continue;
    DfqLayerReport& rep = report.layer(p.layer.node);
    auto skip = [&](const std::string& why) { rep.note = join(rep.note, "no bias correction: " + why); };
    auto fid = fg.find_node(p.layer.node);
    auto gid = g.find_node(p.layer.node);
    PARE_ASSERT(fid && gid, "quantized node missing");
    const ir::Node& fn = fg.nodes[*fid];
    if (p.layer.activation_input < 0) continue;
    const std::string& x = fn.inputs[static_cast<size_t>(p.layer.activation_input)];
    auto st = stats.find(x);
    if (st == stats.end()) {
      skip("input " + x + " has no statistics");
      continue;
    }
    if (!st->second.channels_known) {
      skip("input statistics have no channel order");
      continue;
    }
    const at::Tensor w = fg.initializers.at(p.layer.weight).to(at::kDouble);
    const at::Tensor eps = ql.weight.dequantize().to(at::kDouble).reshape(w.sizes()) - w;
    at::Tensor ex = st->second.mean;

    at::Tensor delta;         // [O]: expected output shift eps E[x]
    double factor = 1.0;      // Gemm: the bias is scaled by beta, the product by alpha
    size_t bias_node = *gid;  // the node whose input holds the bias
    size_t bias_slot = 2;
    if (fn.op_type == "Conv") {
      const int64_t group = int_attr(fn, "group", 1);
      if (ex.numel() != w.size(1) * group) {
        skip("input statistics have " + std::to_string(ex.numel()) + " channels");
        continue;
      }
      const at::Tensor e = eps.flatten(2).sum(2);  // [O, I/g]: zero padding ignored
      delta = (e * ex.index({conv_input_index(w, group)})).sum(1);
    } else if (fn.op_type == "Gemm" || (fn.op_type == "MatMul" && p.layer.weight_input == 1)) {
      const bool gemm = fn.op_type == "Gemm";
      if (gemm && int_attr(fn, "transA", 0) != 0) {
        skip("Gemm with transA");
        continue;
      }
      const at::Tensor e = gemm && int_attr(fn, "transB", 0) ? eps : eps.t();  // [O, K]
      const int64_t k = e.size(1);
      // A flattened NCHW input: channel c covers features [c * k/C, (c+1) * k/C).
      if (k != ex.numel() && st->second.axis == 1 && k % ex.numel() == 0) ex = ex.repeat_interleave(k / ex.numel());
      if (k != ex.numel()) {
        skip("input statistics have " + std::to_string(ex.numel()) + " channels for " + std::to_string(k));
        continue;
      }
      delta = e.matmul(ex);
      if (gemm) {
        const double beta = float_attr(fn, "beta", 1.0);
        if (beta == 0) {
          skip("Gemm with beta 0");
          continue;
        }
        factor = float_attr(fn, "alpha", 1.0) / beta;
      } else {
        // x @ W + b: the bias lives in the Add that is the MatMul's only reader.
        auto c = g.consumers(g.nodes[*gid].outputs[0]);
        const ir::Node* add = c.size() == 1 ? &g.nodes[c[0]] : nullptr;
        if (!add || add->op_type != "Add" || g.is_output(g.nodes[*gid].outputs[0])) {
          skip("MatMul without a bias Add");
          continue;
        }
        bias_slot = add->inputs[0] == g.nodes[*gid].outputs[0] ? 1 : 0;
        bias_node = c[0];
        auto b = g.initializers.find(add->inputs[bias_slot]);
        if (b == g.initializers.end() || b->second.numel() != delta.numel() || b->second.size(-1) != delta.numel()) {
          skip("MatMul bias Add without a per-output initializer");
          continue;
        }
      }
    } else {
      skip(fn.op_type + " is not corrected");
      continue;
    }

    ir::Node& bn = g.nodes[bias_node];
    const std::string old = input(bn, bias_slot);
    at::Tensor b_old;
    if (!old.empty()) {
      auto it = g.initializers.find(old);
      if (it == g.initializers.end() || it->second.numel() != delta.numel()) {
        skip("bias is not a per-output initializer");
        continue;
      }
      b_old = it->second;
    } else {
      b_old = at::zeros({delta.numel()}, at::kFloat);
    }
    const at::Tensor b_new =
        (b_old.to(at::kDouble).flatten() - factor * delta).to(b_old.scalar_type()).reshape(b_old.sizes());
    // Write in place only when this node is the bias's only reader; otherwise under a fresh name.
    const std::string name = !old.empty() && readers(g, old) == 1 ? old : g.unique_name(p.layer.node + ".bias_dfq");
    g.initializers[name] = b_new;
    if (bn.inputs.size() <= bias_slot) bn.inputs.resize(bias_slot + 1);
    bn.inputs[bias_slot] = name;
    rep.bias_corrected = true;
    std::ostringstream note;
    note << "bias corrected by up to " << delta.abs().max().item<double>() * std::abs(factor);
    rep.note = join(rep.note, note.str());
  }
}

}  // namespace pare::quant
