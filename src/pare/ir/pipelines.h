// Pass pipelines: the ordered lists of IR rewrites that commands apply, each position with its reason.
#pragma once
#include <string>

#include "pare/ir/graph.h"

namespace pare::ir {

struct PipelineReport {
  int batchnorms_folded = 0;
  int batchnorms_kept = 0;
  std::string summary() const;
};

// For inference only (never before training: folded BatchNorm cannot learn statistics).
PipelineReport optimize_for_inference(Graph& g);

}  // namespace pare::ir
