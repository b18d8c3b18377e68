// The table of quantization methods (method.h). builtin_methods() is built once, in a fixed order, from
// methods/all_methods.cpp and never changes afterwards; a program (or a test) that adds its own method
// copies it and adds to the copy, then passes that registry to the recipe, the pipeline and the CLI.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pare/quant/method.h"

namespace pare::quant {

class MethodRegistry {
 public:
  // Adds `m`; Error when the name is taken or an option shares a name with another method's option of a
  // different type (one recipe key, one meaning).
  void add(Method m);
  const Method* find(const std::string& name) const;  // nullptr when unknown
  // `name`'s entry; Error listing every method when unknown (`where`: the recipe file, if any).
  const Method& at(const std::string& name, const std::string& where = "") const;
  const std::vector<Method>& methods() const { return methods_; }
  std::string names() const;  // "rtn, dfq, rex, ..."
  // Every option of every method, once per name (the first declaration), in method order: the CLI flags.
  std::vector<MethodOption> all_options() const;
  // The methods that declare option `name`, e.g. "rex" or "gptq or awq".
  std::string owners(const std::string& option) const;
  // {"methods": [Method::to_json(), ...]}: what `pare quantize --list-methods --json` prints.
  nlohmann::json to_json() const;

 private:
  std::vector<Method> methods_;
};

// pare's own methods, in the order --list-methods shows them.
const MethodRegistry& builtin_methods();

}  // namespace pare::quant
