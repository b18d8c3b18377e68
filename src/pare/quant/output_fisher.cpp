#include "pare/quant/output_fisher.h"

#include "pare/error.h"
#include "pare/exec/executor.h"

namespace pare::quant {

std::map<std::string, std::vector<at::Tensor>> output_fisher(const ir::Graph& g, const std::vector<std::string>& names,
                                                             const std::vector<blocks::Values>& batches) {
  exec::ExecOptions eo;
  eo.grad = true;
  exec::Executor ex(g, eo);
  std::map<std::string, at::Tensor> seen;
  for (const auto& name : names)
    ex.add_hook(name, [&seen](const std::string& n, const at::Tensor& t) {
      if (t.requires_grad()) t.retain_grad();
      seen[n] = t;
    });
  std::map<std::string, std::vector<at::Tensor>> out;
  for (const auto& batch : batches) {
    exec::TensorMap feeds;
    for (const auto& [k, t] : batch) feeds[k] = t.is_floating_point() ? t.detach().clone().requires_grad_(true) : t;
    seen.clear();
    const at::Tensor logits = ex.run(feeds).at(g.outputs.at(0).name);
    if (!logits.is_floating_point() || logits.dim() < 1)
      throw Error("a Fisher-weighted loss needs a model whose first output is class scores")
          .got(g.outputs.at(0).name)
          .hint("use --loss mse");
    const at::Tensor z = logits.reshape({-1, logits.size(-1)}).log_softmax(1);
    (-z.gather(1, z.argmax(1, true))).sum().backward();
    for (const auto& name : names) {
      const at::Tensor& t = seen.at(name);
      out[name].push_back(t.grad().defined() ? t.grad().pow(2).detach() : at::ones_like(t.detach()));
    }
  }
  return out;
}

}  // namespace pare::quant
