// Pipelines. Order matters and is explained beside each step.
#include "pare/ir/pipelines.h"

#include "pare/ir/passes/fold_batchnorm.h"

namespace pare::ir {

std::string PipelineReport::summary() const {
  return "folded " + std::to_string(batchnorms_folded) + " BatchNormalization node(s)" +
         (batchnorms_kept ? ", kept " + std::to_string(batchnorms_kept) : "");
}

PipelineReport optimize_for_inference(Graph& g) {
  PipelineReport r;
  // 1. BatchNorm folding first: it removes a full pass over every conv output and is exact.
  FoldReport fold = fold_batchnorm(g);
  r.batchnorms_folded = fold.folded;
  r.batchnorms_kept = fold.declined;
  return r;
}

}  // namespace pare::ir
