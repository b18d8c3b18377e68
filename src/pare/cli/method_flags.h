// Command-line flags generated from the method registry: one flag per method option (MethodOption::flag),
// whatever method declares it, turned into recipe overrides when given. A method added to the registry gets
// its flags here without a line of CLI code.
#pragma once
#include <CLI/CLI.hpp>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "pare/quant/method_registry.h"

namespace pare::cli {

class MethodFlags {
 public:
  // Adds the flags of every option in `methods` to `cmd`. The object must outlive parsing.
  MethodFlags(CLI::App& cmd, const quant::MethodRegistry& methods);
  // The given flags as recipe keys with typed values (Error naming the flag for a malformed number).
  nlohmann::json overrides() const;

 private:
  std::map<std::string, std::string> values_;  // option name -> the text given
  std::map<std::string, CLI::Option*> flags_;
  std::vector<quant::MethodOption> options_;
};

// `pare quantize --list-methods`: one block per method (name, data, models, options with defaults), or the
// registry's JSON with `json`.
std::string list_methods(const quant::MethodRegistry& methods, bool json);

}  // namespace pare::cli
