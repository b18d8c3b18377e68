// The one inference set-up shared by `pare run`, `pare eval` and the benchmarks, so that what is timed
// is what users run: exact graph rewrites, then channels-last convolutions.
#pragma once
#include "pare/exec/executor.h"

namespace pare::exec {

// Applies ir::optimize_for_inference to `graph` in place (never before training) and returns the
// executor options for running it.
ExecOptions prepare_for_inference(ir::Graph& graph);

}  // namespace pare::exec
