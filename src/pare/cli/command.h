// A CLI sub-command: its CLI11 parser and the action that runs after parsing.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>

#include "pare/quant/method_registry.h"

namespace pare::cli {

using Action = std::function<int()>;

// Each adds its sub-command to `app` and returns the action to run when it is chosen.
Action add_info_command(CLI::App& app);
Action add_run_command(CLI::App& app);
Action add_zoo_command(CLI::App& app);
Action add_eval_command(CLI::App& app);
Action add_train_command(CLI::App& app);
// `methods`: the registry whose methods and option flags the command offers.
Action add_quantize_command(CLI::App& app, const quant::MethodRegistry& methods = quant::builtin_methods());
Action add_text_command(CLI::App& app);
Action add_ppl_command(CLI::App& app);
Action add_export_command(CLI::App& app);

}  // namespace pare::cli
