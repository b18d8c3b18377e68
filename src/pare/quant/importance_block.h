// imatrix scales (scale_search.h) for any weight method: the block hook that measures each planned layer's
// input importance, the mean squared activation of each input channel (each column of the weight's matrix
// view) on the block's quantized-prefix calibration inputs, as llama.cpp's importance matrix does, and hands
// it to the method's weight operator in WeightJob::importance. A convolution's columns are its im2col rows
// (input channel x kernel position), so each kernel tap gets its own importance. A layer without input rows
// (layer_inputs.h: grouped or depthwise convolutions, Gather tables) gets the plain mse search, with a note.
#pragma once
#include "pare/quant/method.h"

namespace pare::quant {

void importance_block(BlockJob& job);

}  // namespace pare::quant
