// First-order optimizers over named parameter tensors (updated in place): SGD with momentum/Nesterov
// (PyTorch's formulation, coupled L2 weight decay) and AdamW (decoupled weight decay).
#pragma once
#include <ATen/ATen.h>

#include <map>
#include <string>
#include <vector>

#include "pare/ir/graph.h"

namespace pare::optim {

struct Param {
  std::string name;
  at::Tensor tensor;  // the graph's initializer itself: the optimizer writes into it
  bool decay = true;  // weight decay applies
};

struct OptimizerOptions {
  std::string kind = "sgd";  // "sgd" | "adamw"
  double momentum = 0.9;
  bool nesterov = false;
  double weight_decay = 0;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // AdamW
};

// The trainable initializers of `graph`, with weight decay only on the weights of Conv, ConvTranspose,
// Gemm and MatMul; norms, biases, class tokens and position embeddings are not decayed.
std::vector<Param> parameters_for_training(const ir::Graph& graph);

class Optimizer {
 public:
  Optimizer(std::vector<Param> params, OptimizerOptions options);  // throws Error on a bad option
  // One update with learning rate `lr` from the gradients in each tensor's .grad(); parameters without
  // a gradient are skipped.
  void step(double lr);
  void zero_grad();
  // Global L2 norm of all gradients, scaled down to `max_norm` when above it; returns the norm before.
  double clip_grad_norm(double max_norm);

  const std::vector<Param>& params() const { return params_; }
  const OptimizerOptions& options() const { return options_; }
  int64_t steps() const { return steps_; }
  // Optimizer state by "<param>/<slot>" for checkpoints; load_state restores it (shapes checked).
  std::map<std::string, at::Tensor> state() const;
  void load_state(const std::map<std::string, at::Tensor>& state, int64_t steps);

 private:
  std::vector<Param> params_;
  OptimizerOptions options_;
  std::vector<at::Tensor> m_, v_;  // momentum / Adam moments, lazily created
  int64_t steps_ = 0;
};

}  // namespace pare::optim
