// The block-reconstruction engine (docs/methods/reconstruct.md): for one block of the block driver, learn the
// quantized weights (and optionally the weight and activation scales) that make the quantized block's
// outputs match the float block's on calibration data:
//
//   minimize  E || B_fp(X_fp) - B_q(X_in) ||^2_F  +  reg_weight * sum(1 - |2h(V) - 1|^beta)
//
// with X_in the float-prefix inputs, the quantized-prefix ones or QDrop's random mix of both, F = 1 or the
// diagonal empirical Fisher at the block's outputs (BRECQ), and the regularizer for AdaRound's variable only.
// Each step draws `batch` samples of one calibration batch; the activation quantizers of the block's layers
// (ONNX graphs with --abits) are applied, dropped at random under QDrop. After the last step the weights get
// hard codes, and the block's activation quantizers stay in the quantized path the later blocks learn from.
#pragma once
#include "pare/quant/method.h"
#include "pare/quant/methods/reconstruct_options.h"

namespace pare::quant {

// Learns the planned layers of job's block and sets their weights; each layer's `fields` get the block's
// loss on its first calibration batch (quantized-prefix inputs) before and after: block_loss_init, block_loss.
// A block whose loss did not go down keeps its starting weights (and activation scales), with a note.
void reconstruct_block(BlockJob& job, const ReconstructOptions& options);

}  // namespace pare::quant
