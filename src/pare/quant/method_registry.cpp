#include "pare/quant/method_registry.h"

#include <algorithm>

#include "pare/error.h"
#include "pare/quant/methods/all_methods.h"

namespace pare::quant {

std::string to_string(DataNeed d) {
  return d == DataNeed::None ? "none" : d == DataNeed::Calibration ? "calibration" : "labels";
}

std::string to_string(ModelKind k) { return k == ModelKind::Graph ? "onnx" : "llama"; }

std::string to_string(MethodRun r) {
  return r == MethodRun::PerWeight ? "weight" : r == MethodRun::PerBlock ? "block" : "model";
}

MethodRun Method::run() const {
  if (block) return MethodRun::PerBlock;
  if (after_fold || after_weights) return MethodRun::WholeModel;
  return MethodRun::PerWeight;
}

bool Method::supports(ModelKind k) const { return std::find(models.begin(), models.end(), k) != models.end(); }

std::string Method::qdq_refusal_for(const Recipe& recipe) const {
  if (qdq_refusal) return qdq_refusal(recipe);
  if (std::find(grids.begin(), grids.end(), GridKind::Uniform) != grids.end()) return {};
  const char* kind = grids.front() == GridKind::Power     ? "power-grid"
                     : grids.front() == GridKind::Ternary ? "ternary"
                                                          : "codebook";
  return "method " + name + " writes " + kind + " values, not a uniform integer grid";
}

const MethodOption* Method::option(const std::string& option_name) const {
  for (const auto& o : options)
    if (o.name == option_name) return &o;
  return nullptr;
}

nlohmann::json Method::to_json() const {
  static const char* grid_names[] = {"uniform", "power", "ternary", "codebook"};
  nlohmann::json j{{"name", name},
                   {"summary", summary},
                   {"doc", doc},
                   {"data", to_string(data)},
                   {"data_required", data_required},
                   {"runs", to_string(run())}};
  j["models"] = nlohmann::json::array();
  for (ModelKind k : models) j["models"].push_back(to_string(k));
  j["grids"] = nlohmann::json::array();
  for (GridKind g : grids) j["grids"].push_back(grid_names[static_cast<int>(g)]);
  j["options"] = nlohmann::json::array();
  for (const auto& o : options) j["options"].push_back(o.to_json());
  return j;
}

void MethodRegistry::add(Method m) {
  PARE_ASSERT(!m.name.empty() && (m.weight || m.block), "a method needs a name and a weight operator or block hook");
  if (find(m.name)) throw Error("quantization method '" + m.name + "' is registered twice");
  for (const auto& o : m.options)
    for (const auto& other : methods_)
      if (const MethodOption* same = other.option(o.name); same && same->type != o.type)
        throw Error("option '" + o.name + "' of method " + m.name + " has another type in method " + other.name)
            .hint("one recipe key has one meaning: rename the option");
  methods_.push_back(std::move(m));
}

const Method* MethodRegistry::find(const std::string& name) const {
  for (const auto& m : methods_)
    if (m.name == name) return &m;
  return nullptr;
}

const Method& MethodRegistry::at(const std::string& name, const std::string& where) const {
  if (const Method* m = find(name)) return *m;
  Error e("unknown quantization method '" + name + "'");
  if (!where.empty()) e.file(where);
  throw e.expected(names()).hint("pare quantize --list-methods describes each");
}

std::string MethodRegistry::names() const {
  std::string s;
  for (const auto& m : methods_) s += (s.empty() ? "" : ", ") + m.name;
  return s;
}

std::vector<MethodOption> MethodRegistry::all_options() const {
  std::vector<MethodOption> out;
  for (const auto& m : methods_)
    for (const auto& o : m.options)
      if (std::none_of(out.begin(), out.end(), [&](const MethodOption& x) { return x.name == o.name; }))
        out.push_back(o);
  return out;
}

std::string MethodRegistry::owners(const std::string& option) const {
  std::vector<std::string> names;
  for (const auto& m : methods_)
    if (m.option(option)) names.push_back(m.name);
  return or_list(names);
}

nlohmann::json MethodRegistry::to_json() const {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& m : methods_) list.push_back(m.to_json());
  return {{"methods", list}};
}

const MethodRegistry& builtin_methods() {
  static const MethodRegistry r = [] {
    MethodRegistry reg;
    for (Method& m : all_methods()) reg.add(std::move(m));
    return reg;
  }();
  return r;
}

}  // namespace pare::quant
