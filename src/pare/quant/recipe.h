// quant::Recipe: what `pare quantize` does to which layer. A JSON file or CLI flags (--wbits 4 --abits 8
// --granularity group:128 --method rtn); both end up here, and the resolved per-layer plan is what every
// method receives.
//
//   {
//     "method": "rtn",
//     "wbits": 4, "abits": 8,              // abits 0: activations stay float
//     "granularity": "channel",            // tensor | channel | group:G
//     "weight_grid": "symmetric",          // symmetric | asymmetric
//     "weight_scale": "minmax",            // minmax | mse | percentile
//     "activation_observer": "minmax",     // see observer.h
//     "activation_granularity": "tensor",  // tensor | channel (static per-channel scales)
//     "first_last": "same",                // same | int8 | float: bits of the first and last layer
//     "embeddings": false,                 // quantize Gather tables too
//     "exclude": ["head.*"],               // layers kept in float (regex on node or weight name)
//     "layers": [ {"match": "block0\\..*", "wbits": 8} ],  // later rules win
//     "order": 2, "sparsity": 0.5,         // rex: expansion order K and fraction of rows expanded from order 2
//     "ensemble": 1, "pipe_split": "first", // rex: PIPE members M (1: none), variant (pipe_ensemble.h)
//     "exponent": "layer"                  // powerquant: one exponent per layer, or one "global" exponent
//   }
//
// Methods (weight_method.h): rtn, dfq (Nagel et al. 2019), rex, powerquant, tquant, mquant, ternary-rtn. All
// but rtn are data-free: they receive the graph and this recipe, never a dataset.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "pare/ir/graph.h"
#include "pare/quant/granularity.h"
#include "pare/quant/grid.h"
#include "pare/quant/quantizable.h"
#include "pare/quant/scale_search.h"

namespace pare::quant {

struct LayerRule {
  std::string match;  // ECMAScript regex, full match against the node name or the weight name
  std::optional<int> wbits, abits;
  std::optional<std::string> granularity;
};

struct Recipe {
  std::string method = "rtn";
  int wbits = 8;
  int abits = 8;
  std::string granularity = "channel";
  bool weight_symmetric = true;
  std::string weight_scale = "minmax";
  std::string activation_observer = "minmax";
  std::string activation_granularity = "tensor";
  std::string first_last = "same";
  bool embeddings = false;
  std::vector<std::string> exclude;
  std::vector<LayerRule> layers;
  int order = 0;  // 0: the method's default (rex: 2, others: 1)
  double sparsity = 0.5;
  int ensemble = 1;
  std::string pipe_split = "first";
  std::string exponent = "layer";

  int expansion_order() const { return order > 0 ? order : (method == "rex" ? 2 : 1); }

  // Parses and checks a recipe; `where` (a file name) prefixes errors. Unknown keys are errors.
  static Recipe from_json(const nlohmann::json& j, const std::string& where);
  static Recipe load(const std::string& path);
  nlohmann::json to_json() const;
};

// One layer's resolved settings.
// Every method a recipe may name, and which of them never take data (all but rtn, whose activation ranges
// are calibrated).
const std::vector<std::string>& quantization_methods();
std::string quantization_method_list();  // "rtn, dfq, ...": what an unknown-method error expects
bool is_data_free(const std::string& method);
bool is_ternary_method(const std::string& method);

struct LayerPlan {
  QuantizableLayer layer;
  bool quantize = true;  // false: kept in float (excluded)
  std::string reason;    // why its settings differ from the recipe's defaults ("first layer", "rule 2", ...)
  Grid weight_grid;
  Granularity granularity;
  ScaleOptions weight_scale;
  int abits = 8;  // 0: float activations
};

// Resolves `recipe` on `g`: defaults, first/last policy, rules, exclusions. Throws Error for a rule or
// exclusion that matches no quantizable layer, bits outside 2..8, or a graph with no quantizable layer.
std::vector<LayerPlan> plan_layers(const ir::Graph& g, const Recipe& recipe);

// One layer's plan under `recipe`; `first`/`last`: whether it is the model's first or last quantizable layer
// (for first_last). plan_layers is this over a graph's layers, plus check_recipe_patterns.
LayerPlan plan_layer(const Recipe& recipe, const QuantizableLayer& layer, bool first, bool last);
// Throws Error when a layer rule or exclusion of `recipe` matches none of `layers` (almost always a typo).
void check_recipe_patterns(const Recipe& recipe, const std::vector<QuantizableLayer>& layers);

}  // namespace pare::quant
