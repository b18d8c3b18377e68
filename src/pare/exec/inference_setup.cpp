// Inference set-up: BatchNorm folding (and future exact passes) plus channels-last convolutions
// (about 5x faster oneDNN convolutions here; see docs/latency.md).
#include "pare/exec/inference_setup.h"

#include "pare/ir/pipelines.h"

namespace pare::exec {

ExecOptions prepare_for_inference(ir::Graph& graph) {
  ir::optimize_for_inference(graph);
  ExecOptions options;
  options.channels_last = true;
  return options;
}

}  // namespace pare::exec
