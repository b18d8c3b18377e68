#include "pare/quant/recipe.h"

#include <fmt/format.h>

#include <algorithm>
#include <regex>

#include "pare/error.h"
#include "pare/io/json_file.h"
#include "pare/quant/method_registry.h"
#include "pare/quant/observers/observer.h"

namespace pare::quant {

namespace {

void check_bits(int bits, bool zero_ok, const std::string& what, const std::string& where) {
  if ((bits == 0 && zero_ok) || (bits >= 2 && bits <= 8)) return;
  throw recipe_error(what + " out of range", where)
      .expected(zero_ok ? "2 to 8 (0: keep in float)" : "2 to 8")
      .got(std::to_string(bits));
}

std::regex compile(const std::string& pattern, const std::string& where) {
  try {
    return std::regex(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    throw recipe_error("invalid layer pattern '" + pattern + "'", where).got(e.what());
  }
}

bool matches(const std::regex& re, const QuantizableLayer& l) {
  return std::regex_match(l.node, re) || std::regex_match(l.weight, re);
}

// The keys every recipe may hold, whatever its method.
const std::vector<std::string>& common_keys() {
  static const std::vector<std::string> k{"method",
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
                                          "layers"};
  return k;
}

// The method's own options from `j`: each only with the method that reads it, so that a flag that would be
// silently ignored is an error instead; every option of the method is set (defaults for those not given).
nlohmann::json method_options(const Method& m, const nlohmann::json& j, const MethodRegistry& methods,
                              const std::string& where) {
  const auto& common = common_keys();
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (std::find(common.begin(), common.end(), it.key()) != common.end() || m.option(it.key())) continue;
    const std::string owners = methods.owners(it.key());
    if (!owners.empty())
      throw recipe_error("'" + it.key() + "' is an option of --method " + owners, where)
          .got("method " + m.name)
          .hint("leave it out, or pass --method " + owners);
    std::string keys;
    for (const auto& k : common) keys += (keys.empty() ? "" : ", ") + k;
    for (const auto& o : methods.all_options()) keys += ", " + o.name;
    throw recipe_error("unknown recipe key '" + it.key() + "'", where).expected(keys);
  }
  nlohmann::json out = nlohmann::json::object();
  for (const auto& o : m.options) out[o.name] = o.checked(j.contains(o.name) ? j.at(o.name) : o.default_value, where);
  return out;
}

}  // namespace

const Method& Recipe::entry() const { return method_entry ? *method_entry : builtin_methods().at(method); }

nlohmann::json Recipe::option(const std::string& name) const {
  if (options.contains(name)) return options.at(name);
  const MethodOption* o = entry().option(name);
  PARE_ASSERT(o != nullptr, "a method read an option it does not declare");
  return o->default_value;
}

bool Recipe::data_free() const { return entry().data == DataNeed::None; }

bool Recipe::learns() const { return static_cast<bool>(entry().block) || weight_scale == "imatrix"; }

Recipe Recipe::from_json(const nlohmann::json& j, const std::string& where, const MethodRegistry& methods) {
  if (!j.is_object()) throw recipe_error("a recipe must be a JSON object", where);
  Recipe r;
  try {
    r.method = j.value("method", r.method);
    r.method_entry = &methods.at(r.method, where);
    r.options = method_options(*r.method_entry, j, methods, where);
    r.wbits = j.value("wbits", r.wbits);
    r.abits = j.value("abits", r.abits);
    r.granularity = j.value("granularity", r.granularity);
    const std::string grid = j.value("weight_grid", std::string("symmetric"));
    if (grid != "symmetric" && grid != "asymmetric")
      throw recipe_error("unknown weight_grid '" + grid + "'", where).expected("symmetric or asymmetric");
    r.weight_symmetric = grid == "symmetric";
    r.weight_scale = j.value("weight_scale", r.weight_scale);
    r.activation_observer = j.value("activation_observer", r.activation_observer);
    r.activation_granularity = j.value("activation_granularity", r.activation_granularity);
    r.first_last = j.value("first_last", r.first_last);
    r.embeddings = j.value("embeddings", r.embeddings);
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
            throw recipe_error("unknown layer-rule key '" + it.key() + "'", where)
                .expected("match, wbits, abits, granularity");
        r.layers.push_back(l);
      }
    }
  } catch (const nlohmann::json::exception& e) {
    throw recipe_error("malformed recipe", where).got(e.what());
  }
  if (r.method_entry->check) r.method_entry->check(r, where);
  check_bits(r.wbits, false, "wbits", where);
  check_bits(r.abits, true, "abits", where);
  Granularity::parse(r.granularity);
  parse_scale_method(r.weight_scale);
  if (r.weight_scale == "imatrix" && r.data_free())
    throw recipe_error("weight_scale imatrix weighs the scale search by calibration activations", where)
        .got("method " + r.method + ", which is data-free")
        .hint("use --method rtn (or gptq) with --calib, or another --weight-scale");
  parse_observer(r.activation_observer);
  if (r.activation_granularity != "tensor" && r.activation_granularity != "channel")
    throw recipe_error("unknown activation_granularity '" + r.activation_granularity + "'", where)
        .expected("tensor or channel");
  if (r.activation_granularity == "channel" && r.activation_observer != "minmax" &&
      r.activation_observer != "moving_average")
    throw recipe_error("per-channel activation scales take the minmax or moving_average observer", where)
        .got(r.activation_observer);
  if (r.first_last != "same" && r.first_last != "int8" && r.first_last != "float")
    throw recipe_error("unknown first_last policy '" + r.first_last + "'", where).expected("same, int8 or float");
  for (const auto& l : r.layers) {
    compile(l.match, where);
    if (l.wbits) check_bits(*l.wbits, false, "wbits of rule '" + l.match + "'", where);
    if (l.abits) check_bits(*l.abits, true, "abits of rule '" + l.match + "'", where);
    if (l.granularity) Granularity::parse(*l.granularity);
  }
  for (const auto& e : r.exclude) compile(e, where);
  return r;
}

Recipe Recipe::load(const std::string& path, const MethodRegistry& methods) {
  return from_json(io::read_json_file(path, "recipe"), path, methods);
}

Recipe Recipe::compose(const nlohmann::json& defaults, const std::string& path, const nlohmann::json& overrides,
                       const MethodRegistry& methods) {
  nlohmann::json j = defaults.is_object() ? defaults : nlohmann::json::object();
  if (!path.empty()) {
    const nlohmann::json file = io::read_json_file(path, "recipe");
    if (!file.is_object()) throw recipe_error("a recipe must be a JSON object", path);
    j.update(file);
  }
  for (const auto& [key, value] : overrides.items()) {
    if (key == "exclude" && j.contains("exclude") && j["exclude"].is_array())
      for (const auto& e : value) j["exclude"].push_back(e);
    else
      j[key] = value;
  }
  return from_json(j, path, methods);
}

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
  for (const auto& o : entry().options) j[o.name] = option(o.name);
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
