// Recurrent layers: RNN, GRU, LSTM (forward / reverse / bidirectional, sequence_lens, layout 0 and 1,
// peepholes, clip, custom activations). One time step at a time with ATen ops, so autograd works.
#include "pare/ops/op_table.h"

namespace pare::ops {
namespace {

enum class Cell { Rnn, Gru, Lstm };

// An ONNX recurrent activation by name; alpha/beta as the spec defines them per function.
struct Activation {
  std::string name;
  double alpha = 0, beta = 0;
  at::Tensor operator()(const at::Tensor& x) const {
    if (name == "Sigmoid") return at::sigmoid(x);
    if (name == "Tanh") return at::tanh(x);
    if (name == "Relu") return at::relu(x);
    if (name == "Affine") return alpha * x + beta;
    if (name == "LeakyRelu") return at::leaky_relu(x, alpha);
    if (name == "ThresholdedRelu") return at::where(x > alpha, x, at::zeros_like(x));
    if (name == "ScaledTanh") return alpha * at::tanh(beta * x);
    if (name == "HardSigmoid") return at::clamp(alpha * x + beta, 0, 1);
    if (name == "Elu") return at::elu(x, alpha);
    if (name == "Softsign") return x / (1 + x.abs());
    return at::softplus(x);  // Softplus (names are checked when parsed)
  }
};

std::vector<Activation> activations(const OpContext& ctx, Cell cell, int64_t dirs) {
  std::vector<std::string> def = cell == Cell::Rnn   ? std::vector<std::string>{"Tanh"}
                                 : cell == Cell::Gru ? std::vector<std::string>{"Sigmoid", "Tanh"}
                                                     : std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"};
  std::vector<std::string> names = ctx.attr_strings("activations", {});
  if (names.empty())
    for (int64_t d = 0; d < dirs; ++d) names.insert(names.end(), def.begin(), def.end());
  if (names.size() != def.size() * static_cast<size_t>(dirs))
    ctx.fail("'activations' needs " + std::to_string(def.size() * dirs) + " names");
  std::vector<double> alphas = ctx.attr_floats("activation_alpha", {}), betas = ctx.attr_floats("activation_beta", {});
  std::vector<Activation> out;
  size_t ai = 0, bi = 0;
  for (const auto& n : names) {
    static const std::map<std::string, std::pair<double, double>> defaults = {
        {"Sigmoid", {0, 0}},      {"Tanh", {0, 0}},
        {"Relu", {0, 0}},         {"Affine", {1, 0}},
        {"LeakyRelu", {0.01, 0}}, {"ThresholdedRelu", {1, 0}},
        {"ScaledTanh", {1, 1}},   {"HardSigmoid", {0.2, 0.5}},
        {"Elu", {1, 0}},          {"Softsign", {0, 0}},
        {"Softplus", {0, 0}}};
    auto it = defaults.find(n);
    if (it == defaults.end()) ctx.fail("unknown activation '" + n + "'");
    Activation a{n, it->second.first, it->second.second};
    const bool takes_alpha = n == "Affine" || n == "LeakyRelu" || n == "ThresholdedRelu" || n == "ScaledTanh" ||
                             n == "HardSigmoid" || n == "Elu";
    const bool takes_beta = n == "Affine" || n == "ScaledTanh" || n == "HardSigmoid";
    if (takes_alpha && ai < alphas.size()) a.alpha = alphas[ai++];
    if (takes_beta && bi < betas.size()) a.beta = betas[bi++];
    out.push_back(a);
  }
  return out;
}

// Reverses the first lens[b] steps of every batch entry b of x [T, B, ...].
at::Tensor reverse_steps(const at::Tensor& x, const at::Tensor& lens) {
  const int64_t steps = x.size(0);
  at::Tensor t = at::arange(steps, at::kLong).unsqueeze(1);
  at::Tensor l = lens.unsqueeze(0);
  at::Tensor idx = at::where(t < l, l - 1 - t, t);
  std::vector<int64_t> shape{steps, x.size(1)};
  shape.resize(x.dim(), 1);
  return x.gather(0, idx.reshape(shape).expand(x.sizes()));
}

Tensors recurrent(const OpContext& ctx, const Tensors& in, Cell cell) {
  const bool batch_first = ctx.attr_int("layout", 0) != 0;
  at::Tensor x = batch_first ? in.at(0).transpose(0, 1) : in.at(0);  // [T, B, I]
  const at::Tensor& w = in.at(1);                                    // [dirs, G*H, I]
  const at::Tensor& r = in.at(2);                                    // [dirs, G*H, H]
  const int64_t gates = cell == Cell::Rnn ? 1 : cell == Cell::Gru ? 3 : 4;
  const int64_t hidden = ctx.attr_int("hidden_size", r.size(-1));
  const std::string direction = ctx.attr_string("direction", "forward");
  const int64_t dirs = direction == "bidirectional" ? 2 : 1;
  if (direction != "forward" && direction != "reverse" && direction != "bidirectional")
    ctx.fail("unknown direction '" + direction + "'");
  if (x.dim() != 3 || w.dim() != 3 || w.size(0) != dirs || w.size(1) != gates * hidden)
    ctx.fail("X must be 3-D and W [" + std::to_string(dirs) + ", " + std::to_string(gates * hidden) + ", input]");
  const int64_t steps = x.size(0), batch = x.size(1);
  const double clip = ctx.attr_float("clip", 0.0);
  const bool linear_before_reset = cell == Cell::Gru && ctx.attr_int("linear_before_reset", 0) != 0;
  const bool input_forget = cell == Cell::Lstm && ctx.attr_int("input_forget", 0) != 0;
  std::vector<Activation> acts = activations(ctx, cell, dirs);
  at::Tensor lens = has_input(in, 4) ? in[4].to(at::kLong) : at::full({batch}, steps, at::kLong);
  auto initial = [&](size_t i) {
    if (!has_input(in, i)) return at::zeros({dirs, batch, hidden}, x.options());
    return batch_first ? in[i].transpose(0, 1) : in[i];
  };
  at::Tensor h0 = initial(5), c0 = cell == Cell::Lstm ? initial(6) : at::Tensor();
  auto clipped = [&](const at::Tensor& g) { return clip > 0 ? g.clamp(-clip, clip) : g; };

  std::vector<at::Tensor> ys, hs, cs;
  for (int64_t d = 0; d < dirs; ++d) {
    const bool reverse = direction == "reverse" || d == 1;
    const size_t a0 = static_cast<size_t>(d) * (gates == 1 ? 1 : gates == 3 ? 2 : 3);
    at::Tensor xd = reverse ? reverse_steps(x, lens) : x;
    at::Tensor wb, rb;
    if (has_input(in, 3)) {
      wb = in[3][d].narrow(0, 0, gates * hidden);
      rb = in[3][d].narrow(0, gates * hidden, gates * hidden);
    } else {
      wb = rb = at::zeros({gates * hidden}, x.options());
    }
    at::Tensor xw = at::matmul(xd, w[d].t()) + wb;  // [T, B, G*H]
    at::Tensor rd = r[d].t();
    at::Tensor h = h0[d], c = cell == Cell::Lstm ? c0[d] : at::Tensor();
    at::Tensor p = cell == Cell::Lstm && has_input(in, 7) ? in[7][d] : at::Tensor();  // peepholes i, o, f
    std::vector<at::Tensor> yd;
    for (int64_t t = 0; t < steps; ++t) {
      at::Tensor live = (lens > t).to(x.scalar_type()).unsqueeze(1);  // [B, 1]
      at::Tensor h_new, c_new;
      if (cell == Cell::Rnn) {
        h_new = acts[a0](clipped(xw[t] + at::matmul(h, rd) + rb));
      } else if (cell == Cell::Gru) {
        auto xg = xw[t].chunk(3, 1);
        auto rw = rd.chunk(3, 1);
        auto rbg = rb.chunk(3, 0);
        at::Tensor z = acts[a0](clipped(xg[0] + at::matmul(h, rw[0]) + rbg[0]));
        at::Tensor rr = acts[a0](clipped(xg[1] + at::matmul(h, rw[1]) + rbg[1]));
        at::Tensor hh = linear_before_reset ? xg[2] + rr * (at::matmul(h, rw[2]) + rbg[2])
                                            : xg[2] + at::matmul(rr * h, rw[2]) + rbg[2];
        hh = acts[a0 + 1](clipped(hh));
        h_new = (1 - z) * hh + z * h;
      } else {
        auto g = (xw[t] + at::matmul(h, rd) + rb).chunk(4, 1);  // i, o, f, c
        at::Tensor gi = g[0], go = g[1], gf = g[2];
        if (p.defined()) {
          auto pp = p.chunk(3, 0);
          gi = gi + pp[0] * c;
          gf = gf + pp[2] * c;
        }
        at::Tensor i = acts[a0](clipped(gi));
        at::Tensor f = input_forget ? 1 - i : acts[a0](clipped(gf));
        at::Tensor cc = acts[a0 + 1](clipped(g[3]));
        c_new = f * c + i * cc;
        if (p.defined()) go = go + p.chunk(3, 0)[1] * c_new;
        at::Tensor o = acts[a0](clipped(go));
        h_new = o * acts[a0 + 2](c_new);
        c = live * c_new + (1 - live) * c;
      }
      h = live * h_new + (1 - live) * h;
      yd.push_back(h_new * live);
    }
    at::Tensor y = at::stack(yd, 0);  // [T, B, H]
    if (reverse) y = reverse_steps(y, lens);
    ys.push_back(y);
    hs.push_back(h);
    if (c.defined()) cs.push_back(c);
  }
  at::Tensor y = at::stack(ys, 1);  // [T, dirs, B, H]
  at::Tensor yh = at::stack(hs, 0), yc = cs.empty() ? at::Tensor() : at::stack(cs, 0);
  if (batch_first) {
    y = y.permute({2, 0, 1, 3});
    yh = yh.transpose(0, 1);
    if (yc.defined()) yc = yc.transpose(0, 1);
  }
  if (cell == Cell::Lstm) return {y, yh, yc};
  return {y, yh};
}

Tensors rnn(const OpContext& ctx, const Tensors& in) { return recurrent(ctx, in, Cell::Rnn); }
Tensors gru(const OpContext& ctx, const Tensors& in) { return recurrent(ctx, in, Cell::Gru); }
Tensors lstm(const OpContext& ctx, const Tensors& in) { return recurrent(ctx, in, Cell::Lstm); }

}  // namespace

void register_recurrent_ops(OpTable& t) {
  t.add({"RNN", 7, rnn});
  t.add({"GRU", 7, gru});
  t.add({"LSTM", 7, lstm});
}

}  // namespace pare::ops
