// `--method gptq`: GPTQ (gptq_solver.h) in the block pipeline. Per block, the block's layers see the
// quantized prefix's inputs (the blocks before are already quantized); the inputs of each layer are gathered
// from one run of the float block, their mean outer product is the layer's Hessian, and the solver quantizes
// every layer of the block from it (the paper's default; its "true sequential" ordering inside a block is
// not built). Linear and MatMul layers and ungrouped 2-D convolutions (im2col rows) are solved; any other
// layer (grouped or depthwise convolutions, Gemm with transA) falls back to RTN with a note.
#pragma once
#include "pare/quant/method.h"
#include "pare/quant/methods/gptq_solver.h"

namespace pare::quant {

GptqOptions gptq_options(const Recipe& recipe);
// The block hook with options `o`: Hessians from one pass over the quantized-prefix inputs, then the solver per
// planned layer of the job (RTN, with a note, where GPTQ does not apply). Other methods start from it.
void gptq_layers(BlockJob& job, const GptqOptions& o);
Method gptq_method();

}  // namespace pare::quant
