// quant::Recipe: what `pare quantize` does to which layer. A JSON file or CLI flags (--wbits 4 --abits 8
// --granularity group:128 --method rtn); both end up here, and the resolved per-layer plan is what every
// method receives.
//
//   {
//     "method": "rtn",
//     "wbits": 4, "abits": 8,              // abits 0: activations stay float
//     "granularity": "channel",            // tensor | channel | group:G
//     "weight_grid": "symmetric",          // symmetric | asymmetric
//     "weight_scale": "minmax",            // minmax | mse | percentile | imatrix (needs calibration data)
//     "activation_observer": "minmax",     // see observer.h
//     "activation_granularity": "tensor",  // tensor | channel (static per-channel scales)
//     "first_last": "same",                // same | int8 | float: bits of the first and last layer
//     "embeddings": false,                 // quantize Gather tables too
//     "exclude": ["head.*"],               // layers kept in float (regex on node or weight name)
//     "layers": [ {"match": "block0\\..*", "wbits": 8} ],  // later rules win
//     "order": 2, "sparsity": 0.5          // the method's own options (here rex's), as its registry entry
//   }                                      // declares them: only with that method
//
// Methods and their options: method_registry.h (`pare quantize --list-methods`).
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "pare/ir/graph.h"
#include "pare/quant/format_types.h"
#include "pare/quant/quantizable.h"
#include "pare/quant/scale_search.h"

namespace pare::quant {

struct Method;
class MethodRegistry;
const MethodRegistry& builtin_methods();

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
  // The method's own options by recipe key (from_json sets every one the method declares, defaults included).
  nlohmann::json options = nlohmann::json::object();
  // The method's registry entry, set by from_json; a recipe built field by field finds `method` among the
  // built-in methods.
  const Method* method_entry = nullptr;

  const Method& entry() const;
  // The value of the method's option `name`: as set, else its declared default. Error for an option the
  // method does not have.
  nlohmann::json option(const std::string& name) const;
  // Whether the method learns from no data at all (its entry's DataNeed::None).
  bool data_free() const;
  // Whether the weights are learnt from calibration data block by block (quantize_blocks.h's block_hook):
  // a method with a block hook, or imatrix scales. Such a recipe needs --calib and runs every block's data
  // path (nothing to resume).
  bool learns() const;

  // Parses and checks a recipe against `methods`; `where` (a file name) prefixes errors. Unknown keys, and
  // options of another method, are errors.
  static Recipe from_json(const nlohmann::json& j, const std::string& where,
                          const MethodRegistry& methods = builtin_methods());
  static Recipe load(const std::string& path, const MethodRegistry& methods = builtin_methods());
  // The recipe of `defaults`, then the recipe file `path` (when not empty) over them, then `overrides` (e.g.
  // command-line flags) over both; an "exclude" override adds to the file's exclusions.
  static Recipe compose(const nlohmann::json& defaults, const std::string& path, const nlohmann::json& overrides,
                        const MethodRegistry& methods = builtin_methods());
  // Common keys and the method's options, flat: from_json(to_json()) gives the same recipe.
  nlohmann::json to_json() const;
};

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
