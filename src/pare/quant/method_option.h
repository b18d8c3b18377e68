// One option of a quantization method, declared once in the method's entry: its recipe key, type, default,
// range and help. The recipe parser, the CLI flag (--key with '-' for '_'), --list-methods and the result
// JSON all read it from there.
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace pare {
class Error;
}

namespace pare::quant {

// An error about a recipe, naming its file when it came from one (`where` is empty for command-line flags).
Error recipe_error(const std::string& what, const std::string& where);
// "a", "a or b", "a, b or c": the alternatives an error lists.
std::string or_list(const std::vector<std::string>& items);

enum class OptionType { Int, Real, Choice, Bool };
std::string to_string(OptionType t);  // "int", "real", "choice", "bool"

struct MethodOption {
  std::string name;  // recipe key, e.g. "pipe_split"
  OptionType type = OptionType::Int;
  nlohmann::json default_value;
  std::string help;                  // one line, with the range
  std::optional<double> min, max;    // Int and Real: inclusive bounds (a `validate` may say more)
  std::vector<std::string> choices;  // Choice
  // Further checks of a value of the right type, with the method's own wording: throws Error naming `where`.
  std::function<void(const nlohmann::json& value, const std::string& where)> validate;

  std::string flag() const;  // "--pipe-split"
  // A command-line value as the option's JSON value; Error naming the flag when it is no number of the type.
  nlohmann::json parse_flag(const std::string& text) const;
  // `value` from a recipe checked against type, choices, bounds and `validate`; Error naming the key and `where`.
  nlohmann::json checked(const nlohmann::json& value, const std::string& where) const;
  nlohmann::json to_json() const;  // {"name", "type", "default", "help", "min"?, "max"?, "choices"?, "flag"}
};

// Declarations that read like a table in a method's file.
MethodOption int_option(std::string name, int64_t default_value, std::string help, std::optional<double> min = {},
                        std::optional<double> max = {});
MethodOption real_option(std::string name, double default_value, std::string help, std::optional<double> min = {},
                         std::optional<double> max = {});
MethodOption choice_option(std::string name, std::string default_value, std::vector<std::string> choices,
                           std::string help);
MethodOption bool_option(std::string name, bool default_value, std::string help);

}  // namespace pare::quant
