// REx (residual expansion) and PIPE ensembles as a registry entry (docs/methods/rex.md): the options as typed
// values, read from a recipe.
#pragma once
#include <string>

#include "pare/quant/recipe.h"

namespace pare::quant {

struct RexOptions {
  int order = 2;          // expansion order K
  double sparsity = 0.5;  // fraction of output rows expanded from order 2 on
  int ensemble = 1;       // PIPE members M (1: none)
  std::string pipe_split = "first";
};
RexOptions rex_options(const Recipe& r);

}  // namespace pare::quant
