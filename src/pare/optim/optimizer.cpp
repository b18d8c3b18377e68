// SGD and AdamW, written out so the state is ours to checkpoint and the arithmetic is documented.
#include "pare/optim/optimizer.h"

#include <cmath>
#include <set>

#include "pare/error.h"
#include "pare/exec/executor.h"

namespace pare::optim {

std::vector<Param> parameters_for_training(const ir::Graph& graph) {
  // Decay only what multiplies activations in a linear map (the usual "no decay on norms and biases").
  std::set<std::string> decayed;
  for (const auto& n : graph.nodes) {
    const bool linear = n.domain.empty() && (n.op_type == "Conv" || n.op_type == "ConvTranspose" ||
                                             n.op_type == "Gemm" || n.op_type == "MatMul");
    if (!linear) continue;
    for (size_t i = 0; i < n.inputs.size() && i < 2; ++i)
      if (graph.is_initializer(n.inputs[i]) && graph.initializers.at(n.inputs[i]).dim() >= 2)
        decayed.insert(n.inputs[i]);
  }
  std::vector<Param> out;
  for (auto& [name, t] : exec::trainable_parameters(graph)) out.push_back({name, t, decayed.count(name) != 0});
  return out;
}

Optimizer::Optimizer(std::vector<Param> params, OptimizerOptions options)
    : params_(std::move(params)), options_(std::move(options)) {
  if (options_.kind != "sgd" && options_.kind != "adamw")
    throw Error("unknown optimizer '" + options_.kind + "'").expected("sgd or adamw");
  if (options_.momentum < 0 || options_.momentum >= 1)
    throw Error("momentum must be in [0, 1)").got(std::to_string(options_.momentum));
  if (options_.nesterov && (options_.kind != "sgd" || options_.momentum == 0))
    throw Error("Nesterov needs SGD with momentum > 0");
  if (options_.weight_decay < 0) throw Error("weight decay must not be negative");
  if (options_.beta1 < 0 || options_.beta1 >= 1 || options_.beta2 < 0 || options_.beta2 >= 1 || options_.eps <= 0)
    throw Error("AdamW needs betas in [0, 1) and eps > 0");
  m_.resize(params_.size());
  v_.resize(params_.size());
}

void Optimizer::zero_grad() {
  for (auto& p : params_)
    if (p.tensor.grad().defined()) p.tensor.mutable_grad() = at::Tensor();
}

double Optimizer::clip_grad_norm(double max_norm) {
  at::NoGradGuard guard;
  double sq = 0;
  for (auto& p : params_)
    if (p.tensor.grad().defined()) sq += p.tensor.grad().pow(2).sum().item<double>();
  const double norm = std::sqrt(sq);
  if (max_norm > 0 && norm > max_norm) {
    const double scale = max_norm / (norm + 1e-6);
    for (auto& p : params_)
      if (p.tensor.grad().defined()) p.tensor.mutable_grad().mul_(scale);
  }
  return norm;
}

void Optimizer::step(double lr) {
  at::NoGradGuard guard;
  ++steps_;
  const auto& o = options_;
  for (size_t i = 0; i < params_.size(); ++i) {
    at::Tensor p = params_[i].tensor;
    if (!p.grad().defined()) continue;
    at::Tensor g = p.grad();
    const double wd = params_[i].decay ? o.weight_decay : 0.0;
    if (o.kind == "sgd") {
      // PyTorch SGD: g += wd p; buf = mu buf + g; p -= lr (g + mu buf) (Nesterov) or lr buf.
      if (wd != 0) g = g.add(p, wd);
      if (o.momentum != 0) {
        if (!m_[i].defined())
          m_[i] = g.clone();
        else
          m_[i].mul_(o.momentum).add_(g);
        g = o.nesterov ? g.add(m_[i], o.momentum) : m_[i];
      }
      p.add_(g, -lr);
    } else {
      // AdamW (Loshchilov & Hutter): decoupled decay, bias-corrected moments.
      if (!m_[i].defined()) {
        m_[i] = at::zeros_like(p);
        v_[i] = at::zeros_like(p);
      }
      if (wd != 0) p.mul_(1 - lr * wd);
      m_[i].mul_(o.beta1).add_(g, 1 - o.beta1);
      v_[i].mul_(o.beta2).addcmul_(g, g, 1 - o.beta2);
      const double bc1 = 1 - std::pow(o.beta1, static_cast<double>(steps_));
      const double bc2 = 1 - std::pow(o.beta2, static_cast<double>(steps_));
      at::Tensor denom = (v_[i] / bc2).sqrt_().add_(o.eps);
      p.addcdiv_(m_[i], denom, -lr / bc1);
    }
  }
}

std::map<std::string, at::Tensor> Optimizer::state() const {
  std::map<std::string, at::Tensor> s;
  for (size_t i = 0; i < params_.size(); ++i) {
    if (m_[i].defined()) s[params_[i].name + "/m"] = m_[i];
    if (v_[i].defined()) s[params_[i].name + "/v"] = v_[i];
  }
  return s;
}

void Optimizer::load_state(const std::map<std::string, at::Tensor>& state, int64_t steps) {
  for (size_t i = 0; i < params_.size(); ++i) {
    for (auto* slot : {&m_[i], &v_[i]}) {
      const std::string key = params_[i].name + (slot == &m_[i] ? "/m" : "/v");
      auto it = state.find(key);
      if (it == state.end()) {
        *slot = at::Tensor();
        continue;
      }
      if (!it->second.sizes().equals(params_[i].tensor.sizes()))
        throw Error("optimizer state does not match the parameter")
            .tensor(key)
            .expected(ir::shape_string(params_[i].tensor.sizes()))
            .got(ir::shape_string(it->second.sizes()));
      *slot = it->second.clone();
    }
  }
  steps_ = steps;
}

}  // namespace pare::optim
