#include "pare/cli/method_flags.h"

#include <fmt/format.h>

#include "pare/error.h"

namespace pare::cli {

MethodFlags::MethodFlags(CLI::App& cmd, const quant::MethodRegistry& methods) : options_(methods.all_options()) {
  for (const auto& o : options_) {
    std::string help = methods.owners(o.name) + ": " + o.help + " (default " + o.default_value.dump() + ")";
    // A method option must not take a flag the command already has (CLI11 would abort every command).
    PARE_ASSERT(!cmd.get_option_no_throw(o.flag()),
                ("method option " + o.name + " of " + methods.owners(o.name) + " takes an existing flag").c_str());
    flags_[o.name] = cmd.add_option(o.flag(), values_[o.name], help);
  }
}

nlohmann::json MethodFlags::overrides() const {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& o : options_)
    if (flags_.at(o.name)->count() > 0) j[o.name] = o.parse_flag(values_.at(o.name));
  return j;
}

std::string list_methods(const quant::MethodRegistry& methods, bool json) {
  if (json) return methods.to_json().dump(2) + "\n";
  std::string out;
  for (const auto& m : methods.methods()) {
    std::string models;
    for (auto k : m.models) models += (models.empty() ? "" : ", ") + quant::to_string(k);
    static const char* runs[] = {"on each weight", "on each block with its inputs", "on the whole model"};
    const bool optional = m.data == quant::DataNeed::Calibration && !m.data_required;
    out += fmt::format("{:<12} {}\n{:<12} data: {}{}; models: {}; works {}; {}\n", m.name, m.summary, "",
                       quant::to_string(m.data), optional ? " (optional)" : "", models, runs[static_cast<int>(m.run())],
                       m.doc);
    for (const auto& o : m.options)
      out += fmt::format("{:<12}   {} {} (default {}): {}\n", "", o.flag(), quant::to_string(o.type),
                         o.default_value.dump(), o.help);
  }
  return out;
}

}  // namespace pare::cli
