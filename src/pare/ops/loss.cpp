// Training losses exported with models: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss
// (class weights, ignore_index, reductions none / sum / mean).
#include "pare/ops/op_table.h"

namespace pare::ops {
namespace {

// log_prob: [N, C, d...]; target: [N, d...]. Mean divides by the summed weights of counted targets.
at::Tensor nll(const OpContext& ctx, const at::Tensor& log_prob, const at::Tensor& target, const at::Tensor& weight) {
  if (log_prob.dim() < 2 || target.dim() != log_prob.dim() - 1)
    ctx.fail("input must be [N, C, ...] and target [N, ...], got " + ir::shape_string(log_prob.sizes()) + " and " +
             ir::shape_string(target.sizes()));
  at::Tensor t = target.to(at::kLong);
  at::Tensor counted = at::ones_like(t, at::kBool);
  if (ctx.has_attr("ignore_index")) counted = t.ne(ctx.attr_int("ignore_index"));
  at::Tensor safe = at::where(counted, t, at::zeros_like(t));
  at::Tensor picked = log_prob.gather(1, safe.unsqueeze(1)).squeeze(1);
  at::Tensor w = weight.defined() ? weight.index_select(0, safe.reshape(-1)).reshape(t.sizes())
                                  : at::ones(t.sizes(), log_prob.options());
  w = at::where(counted, w, at::zeros_like(w));
  at::Tensor loss = -picked * w;
  const std::string reduction = ctx.attr_string("reduction", "mean");
  if (reduction == "none") return loss;
  if (reduction == "sum") return loss.sum();
  if (reduction == "mean") return loss.sum() / w.sum();
  ctx.fail("unknown reduction '" + reduction + "'", "use none, sum or mean");
}

Tensors nll_loss(const OpContext& ctx, const Tensors& in) { return {nll(ctx, in.at(0), in.at(1), opt_input(in, 2))}; }

Tensors softmax_cross_entropy(const OpContext& ctx, const Tensors& in) {
  at::Tensor log_prob = at::log_softmax(in.at(0), 1);
  return {nll(ctx, log_prob, in.at(1), opt_input(in, 2)), log_prob};
}

}  // namespace

void register_loss_ops(OpTable& t) {
  t.add({"NegativeLogLikelihoodLoss", 12, nll_loss});
  t.add({"SoftmaxCrossEntropyLoss", 12, softmax_cross_entropy});
}

}  // namespace pare::ops
