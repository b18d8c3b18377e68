#include "pare/quant/method_option.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "pare/error.h"

namespace pare::quant {

Error recipe_error(const std::string& what, const std::string& where) {
  Error e(what);
  if (!where.empty()) e.file(where);
  return e;
}

std::string or_list(const std::vector<std::string>& items) {
  std::string s;
  for (size_t i = 0; i < items.size(); ++i) s += (i == 0 ? "" : i + 1 == items.size() ? " or " : ", ") + items[i];
  return s;
}

std::string to_string(OptionType t) {
  switch (t) {
    case OptionType::Int:
      return "int";
    case OptionType::Real:
      return "real";
    case OptionType::Choice:
      return "choice";
    case OptionType::Bool:
      return "bool";
  }
  return "?";
}

std::string MethodOption::flag() const {
  std::string f = "--" + name;
  std::replace(f.begin(), f.end(), '_', '-');
  return f;
}

nlohmann::json MethodOption::parse_flag(const std::string& text) const {
  try {
    size_t used = 0;
    switch (type) {
      case OptionType::Int: {
        const long long v = std::stoll(text, &used);
        if (used == text.size()) return v;
        break;
      }
      case OptionType::Real: {
        const double v = std::stod(text, &used);
        if (used == text.size()) return v;
        break;
      }
      case OptionType::Bool:
        if (text == "true" || text == "1") return true;
        if (text == "false" || text == "0") return false;
        break;
      case OptionType::Choice:
        return text;
    }
  } catch (const std::exception&) {
  }
  throw Error(flag() + " takes " +
              (type == OptionType::Int    ? "an integer"
               : type == OptionType::Real ? "a number"
                                          : "true or false"))
      .got(text);
}

nlohmann::json MethodOption::checked(const nlohmann::json& v, const std::string& where) const {
  const bool ok = type == OptionType::Int    ? v.is_number_integer()
                  : type == OptionType::Real ? v.is_number()
                  : type == OptionType::Bool ? v.is_boolean()
                                             : v.is_string();
  if (!ok)
    throw recipe_error("recipe key '" + name + "' has the wrong type", where).expected(to_string(type)).got(v.dump());
  if (validate) validate(v, where);
  if (type == OptionType::Choice) {
    const std::string s = v.get<std::string>();
    if (std::find(choices.begin(), choices.end(), s) == choices.end())
      throw recipe_error("unknown " + name + " '" + s + "'", where).expected(or_list(choices));
  }
  if (type == OptionType::Int || type == OptionType::Real) {
    const double x = v.get<double>();
    if ((min && x < *min) || (max && x > *max))
      throw recipe_error(name + " out of range", where)
          .expected(fmt::format("{} to {}", min ? fmt::format("{:g}", *min) : "-inf",
                                max ? fmt::format("{:g}", *max) : "inf"))
          .got(v.dump());
  }
  return v;
}

nlohmann::json MethodOption::to_json() const {
  nlohmann::json j{
      {"name", name}, {"type", to_string(type)}, {"default", default_value}, {"help", help}, {"flag", flag()}};
  if (min) j["min"] = *min;
  if (max) j["max"] = *max;
  if (!choices.empty()) j["choices"] = choices;
  return j;
}

MethodOption int_option(std::string name, int64_t default_value, std::string help, std::optional<double> min,
                        std::optional<double> max) {
  MethodOption o;
  o.name = std::move(name);
  o.type = OptionType::Int;
  o.default_value = default_value;
  o.help = std::move(help);
  o.min = min;
  o.max = max;
  return o;
}

MethodOption real_option(std::string name, double default_value, std::string help, std::optional<double> min,
                         std::optional<double> max) {
  MethodOption o = int_option(std::move(name), 0, std::move(help), min, max);
  o.type = OptionType::Real;
  o.default_value = default_value;
  return o;
}

MethodOption choice_option(std::string name, std::string default_value, std::vector<std::string> choices,
                           std::string help) {
  MethodOption o;
  o.name = std::move(name);
  o.type = OptionType::Choice;
  o.default_value = std::move(default_value);
  o.choices = std::move(choices);
  o.help = std::move(help);
  return o;
}

MethodOption bool_option(std::string name, bool default_value, std::string help) {
  MethodOption o;
  o.name = std::move(name);
  o.type = OptionType::Bool;
  o.default_value = default_value;
  o.help = std::move(help);
  return o;
}

}  // namespace pare::quant
