// fold_batchnorm: Conv/ConvTranspose/Gemm followed by an inference-mode BatchNormalization becomes one
// node with rescaled weights and bias: y = s*(Wx + b - m)/sqrt(v + eps) + beta, s/sqrt(v+eps) folded into W.
#pragma once
#include "pare/ir/graph.h"

namespace pare::ir {

struct FoldReport {
  int folded = 0;    // BatchNormalization nodes removed
  int declined = 0;  // BatchNormalization nodes that stay (no foldable producer; see match conditions)
};

// Folds every BatchNormalization whose input comes from a Conv (group any), ConvTranspose (group 1) or
// Gemm whose weight (and bias, if any) are initializers, when the BN is its producer's only reader, is
// not in training mode, and its parameters are initializers. Shared weights are copied, never changed
// in place for other readers. The graph computes the same function afterwards (up to float rounding).
FoldReport fold_batchnorm(Graph& g);

}  // namespace pare::ir
