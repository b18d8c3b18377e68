#include "pare/quant/recipe.h"

#include <fmt/format.h>

#include <algorithm>
#include <regex>
#include <set>

#include "pare/error.h"
#include "pare/io/json_file.h"
#include "pare/quant/observer.h"

namespace pare::quant {

namespace {

// An error about the recipe, naming its file when it came from one (`where` is empty for CLI flags).
Error located(const std::string& what, const std::string& where) {
  Error e(what);
  if (!where.empty()) e.file(where);
  return e;
}

void check_bits(int bits, bool zero_ok, const std::string& what, const std::string& where) {
  if ((bits == 0 && zero_ok) || (bits >= 2 && bits <= 8)) return;
  throw located(what + " out of range", where)
      .expected(zero_ok ? "2 to 8 (0: keep in float)" : "2 to 8")
      .got(std::to_string(bits));
}

std::regex compile(const std::string& pattern, const std::string& where) {
  try {
    return std::regex(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    throw located("invalid layer pattern '" + pattern + "'", where).got(e.what());
  }
}

bool matches(const std::regex& re, const QuantizableLayer& l) {
  return std::regex_match(l.node, re) || std::regex_match(l.weight, re);
}

// The method and its own options: each option only with the method that reads it, so that a flag that
// would be silently ignored is an error instead.
void check_method(const Recipe& r, const nlohmann::json& j, const std::string& where) {
  const auto& methods = quantization_methods();
  if (std::find(methods.begin(), methods.end(), r.method) == methods.end())
    throw located("unknown quantization method '" + r.method + "'", where).expected(quantization_method_list());
  const bool rex = r.method == "rex";
  if (j.contains("order") && r.order < 1)
    throw located("expansion order K must be at least 1", where)
        .got(std::to_string(r.order))
        .hint("--order 1 is plain rounding; 2..4 add residual terms");
  if (r.order > 8) throw located("expansion order K above 8", where).got(std::to_string(r.order)).expected("1 to 8");
  if (!(r.sparsity > 0 && r.sparsity <= 1))
    throw located("expansion sparsity must be in (0, 1]", where)
        .got(fmt::format("{}", r.sparsity))
        .hint("it is the fraction of output rows expanded from order 2 on: 0.25, 0.5 or 1");
  if (r.ensemble < 1) throw located("ensemble size must be at least 1", where).got(std::to_string(r.ensemble));
  if (r.pipe_split != "first" && r.pipe_split != "first-expanded")
    throw located("unknown pipe_split '" + r.pipe_split + "'", where).expected("first or first-expanded");
  if (r.exponent != "layer" && r.exponent != "global")
    throw located("unknown exponent scope '" + r.exponent + "'", where).expected("layer or global");
  for (const char* key : {"order", "sparsity", "ensemble", "pipe_split"})
    if (j.contains(key) && !rex)
      throw located(std::string("'") + key + "' is an option of --method rex", where)
          .got("method " + r.method)
          .hint("leave it out, or pass --method rex");
  if (j.contains("exponent") && r.method != "powerquant")
    throw located("'exponent' is an option of --method powerquant", where).got("method " + r.method);
  if (r.ensemble > 1 && r.expansion_order() < r.ensemble)
    throw located("a PIPE ensemble of M members needs at least M expansion orders", where)
        .got(fmt::format("--ensemble {} with --order {}", r.ensemble, r.expansion_order()))
        .hint(fmt::format("pass --order {} or more", r.ensemble));
  if (is_ternary_method(r.method)) {
    if (r.wbits != 2)
      throw located("method " + r.method + " quantizes weights to ternary values", where)
          .got(fmt::format("--wbits {}", r.wbits))
          .hint("pass --wbits 2 (ternary)");
    if (r.abits == 1)
      throw located("ternary weights need activations of at least 2 bits", where)
          .got("--abits 1")
          .hint("pass --abits 8 (or 4), or --abits 0 for float activations");
  }
}

}  // namespace

const std::vector<std::string>& quantization_methods() {
  static const std::vector<std::string> m{"rtn", "dfq", "rex", "powerquant", "tquant", "mquant", "ternary-rtn"};
  return m;
}

std::string quantization_method_list() {
  std::string list;
  for (const auto& m : quantization_methods()) list += (list.empty() ? "" : ", ") + m;
  return list;
}

bool is_data_free(const std::string& method) { return method != "rtn"; }

bool is_ternary_method(const std::string& method) {
  return method == "tquant" || method == "mquant" || method == "ternary-rtn";
}

Recipe Recipe::from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) throw located("a recipe must be a JSON object", where);
  static const std::set<std::string> keys{"method",
                                          "wbits",
                                          "abits",
                                          "granularity",
                                          "weight_grid",
                                          "weight_scale",
                                          "activation_observer",
                                          "activation_granularity",
                                          "first_last",
                                          "embeddings",
                                          "exclude",
                                          "layers",
                                          "order",
                                          "sparsity",
                                          "ensemble",
                                          "pipe_split",
                                          "exponent"};
  Recipe r;
  try {
    for (auto it = j.begin(); it != j.end(); ++it)
      if (!keys.count(it.key()))
        throw located("unknown recipe key '" + it.key() + "'", where)
            .expected(
                "method, wbits, abits, granularity, weight_grid, weight_scale, activation_observer, "
                "activation_granularity, first_last, embeddings, exclude, layers, order, sparsity, ensemble, "
                "pipe_split, exponent");
    r.method = j.value("method", r.method);
    r.wbits = j.value("wbits", r.wbits);
    r.abits = j.value("abits", r.abits);
    r.granularity = j.value("granularity", r.granularity);
    const std::string grid = j.value("weight_grid", std::string("symmetric"));
    if (grid != "symmetric" && grid != "asymmetric")
      throw located("unknown weight_grid '" + grid + "'", where).expected("symmetric or asymmetric");
    r.weight_symmetric = grid == "symmetric";
    r.weight_scale = j.value("weight_scale", r.weight_scale);
    r.activation_observer = j.value("activation_observer", r.activation_observer);
    r.activation_granularity = j.value("activation_granularity", r.activation_granularity);
    r.first_last = j.value("first_last", r.first_last);
    r.embeddings = j.value("embeddings", r.embeddings);
    r.order = j.value("order", r.order);
    r.sparsity = j.value("sparsity", r.sparsity);
    r.ensemble = j.value("ensemble", r.ensemble);
    r.pipe_split = j.value("pipe_split", r.pipe_split);
    r.exponent = j.value("exponent", r.exponent);
    if (j.contains("exclude")) r.exclude = j.at("exclude").get<std::vector<std::string>>();
    if (j.contains("layers")) {
      for (const auto& rule : j.at("layers")) {
        LayerRule l;
        l.match = rule.at("match").get<std::string>();
        if (rule.contains("wbits")) l.wbits = rule.at("wbits").get<int>();
        if (rule.contains("abits")) l.abits = rule.at("abits").get<int>();
        if (rule.contains("granularity")) l.granularity = rule.at("granularity").get<std::string>();
        for (auto it = rule.begin(); it != rule.end(); ++it)
          if (it.key() != "match" && it.key() != "wbits" && it.key() != "abits" && it.key() != "granularity")
            throw located("unknown layer-rule key '" + it.key() + "'", where)
                .expected("match, wbits, abits, granularity");
        r.layers.push_back(l);
      }
    }
  } catch (const nlohmann::json::exception& e) {
    throw located("malformed recipe", where).got(e.what());
  }
  check_method(r, j, where);
  check_bits(r.wbits, false, "wbits", where);
  check_bits(r.abits, true, "abits", where);
  Granularity::parse(r.granularity);
  parse_scale_method(r.weight_scale);
  parse_observer(r.activation_observer);
  if (r.activation_granularity != "tensor" && r.activation_granularity != "channel")
    throw located("unknown activation_granularity '" + r.activation_granularity + "'", where)
        .expected("tensor or channel");
  if (r.activation_granularity == "channel" && r.activation_observer != "minmax" &&
      r.activation_observer != "moving_average")
    throw located("per-channel activation scales take the minmax or moving_average observer", where)
        .got(r.activation_observer);
  if (r.first_last != "same" && r.first_last != "int8" && r.first_last != "float")
    throw located("unknown first_last policy '" + r.first_last + "'", where).expected("same, int8 or float");
  for (const auto& l : r.layers) {
    compile(l.match, where);
    if (l.wbits) check_bits(*l.wbits, false, "wbits of rule '" + l.match + "'", where);
    if (l.abits) check_bits(*l.abits, true, "abits of rule '" + l.match + "'", where);
    if (l.granularity) Granularity::parse(*l.granularity);
  }
  for (const auto& e : r.exclude) compile(e, where);
  return r;
}

Recipe Recipe::load(const std::string& path) { return from_json(io::read_json_file(path, "recipe"), path); }

nlohmann::json Recipe::to_json() const {
  nlohmann::json layers_json = nlohmann::json::array();
  for (const auto& l : layers) {
    nlohmann::json r{{"match", l.match}};
    if (l.wbits) r["wbits"] = *l.wbits;
    if (l.abits) r["abits"] = *l.abits;
    if (l.granularity) r["granularity"] = *l.granularity;
    layers_json.push_back(r);
  }
  nlohmann::json j{{"method", method},
                   {"wbits", wbits},
                   {"abits", abits},
                   {"granularity", granularity},
                   {"weight_grid", weight_symmetric ? "symmetric" : "asymmetric"},
                   {"weight_scale", weight_scale},
                   {"activation_observer", activation_observer},
                   {"activation_granularity", activation_granularity},
                   {"first_last", first_last},
                   {"embeddings", embeddings},
                   {"exclude", exclude},
                   {"layers", layers_json}};
  // A method's own options only with that method, as from_json requires.
  if (method == "rex") {
    j["order"] = expansion_order();
    j["sparsity"] = sparsity;
    j["ensemble"] = ensemble;
    j["pipe_split"] = pipe_split;
  }
  if (method == "powerquant") j["exponent"] = exponent;
  return j;
}

std::vector<LayerPlan> plan_layers(const ir::Graph& g, const Recipe& r) {
  const std::vector<QuantizableLayer> found = find_quantizable(g, r.embeddings);
  if (found.empty())
    throw Error("the model has no quantizable layer")
        .expected("Conv, ConvTranspose, Gemm or MatMul nodes with a constant (initializer) weight")
        .hint("weights computed at run time, or stored behind Constant nodes, are not found; pare info lists the ops");
  std::vector<LayerPlan> plans;
  for (size_t i = 0; i < found.size(); ++i) plans.push_back(plan_layer(r, found[i], i == 0, i + 1 == found.size()));
  check_recipe_patterns(r, found);
  return plans;
}

LayerPlan plan_layer(const Recipe& r, const QuantizableLayer& layer, bool first, bool last) {
  LayerPlan p;
  p.layer = layer;
  int wbits = r.wbits, abits = r.abits;
  std::string gran = r.granularity;
  if ((first || last) && r.first_last == "int8") {
    wbits = 8;
    abits = abits ? 8 : 0;
    p.reason = first ? "first layer" : "last layer";
  } else if ((first || last) && r.first_last == "float") {
    p.quantize = false;
    p.reason = first ? "first layer" : "last layer";
  }
  for (size_t k = 0; k < r.layers.size(); ++k) {
    const LayerRule& rule = r.layers[k];
    if (!matches(std::regex(rule.match), p.layer)) continue;
    if (rule.wbits) wbits = *rule.wbits;
    if (rule.abits) abits = *rule.abits;
    if (rule.granularity) gran = *rule.granularity;
    p.quantize = true;
    p.reason = fmt::format("rule {} ({})", k + 1, rule.match);
  }
  for (const auto& e : r.exclude)
    if (matches(std::regex(e), p.layer)) {
      p.quantize = false;
      p.reason = "excluded (" + e + ")";
    }
  p.weight_grid = Grid::uniform(wbits, r.weight_symmetric, true);
  p.granularity = Granularity::parse(gran);
  p.weight_scale.method = parse_scale_method(r.weight_scale);
  // Group scales are stored as float16, as llama.cpp and ONNX Runtime's blockwise formats do.
  if (p.granularity.kind == Granularity::Kind::Group) p.weight_scale.scale_bits = 16;
  p.abits = p.layer.activation_input < 0 ? 0 : abits;
  return p;
}

void check_recipe_patterns(const Recipe& r, const std::vector<QuantizableLayer>& found) {
  // A pattern that names nothing is almost always a typo: say so instead of silently doing nothing.
  auto check_used = [&](const std::string& pattern, const std::string& what) {
    const std::regex re(pattern);
    for (const auto& l : found)
      if (matches(re, l)) return;
    std::string names;
    for (size_t i = 0; i < found.size() && i < 8; ++i) names += (i ? ", " : "") + found[i].node;
    if (found.size() > 8) names += fmt::format(", ... ({} in all)", found.size());
    throw Error(what + " '" + pattern + "' matches no quantizable layer")
        .expected("a regular expression matching a node or weight name, e.g. " + names)
        .hint("pare quantize --dry-run lists the layers");
  };
  for (const auto& l : r.layers) check_used(l.match, "layer rule");
  for (const auto& e : r.exclude) check_used(e, "exclusion");
}

}  // namespace pare::quant
