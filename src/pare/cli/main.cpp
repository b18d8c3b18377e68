// The pare tool: parses the command line, runs one sub-command, and is the only place that prints
// errors and chooses exit codes (0 ok, 2 bad input or usage, 1 internal failure).
#include <fmt/format.h>

#include <iostream>

#include "pare/cli/command.h"
#include "pare/cli/command_line.h"
#include "pare/error.h"
#include "pare/exec/caching_allocator.h"

int main(int argc, char** argv) {
  pare::exec::install_caching_cpu_allocator();  // reuse activation buffers across nodes and runs
  CLI::App app{"pare: make trained neural networks small and fast"};
  app.set_version_flag("--version", std::string("pare ") + PARE_VERSION);
  app.require_subcommand(1);
  std::vector<std::pair<CLI::App*, pare::cli::Action>> commands;
  auto add = [&](pare::cli::Action a) { commands.emplace_back(app.get_subcommands({}).back(), std::move(a)); };
  add(pare::cli::add_info_command(app));
  add(pare::cli::add_run_command(app));
  add(pare::cli::add_zoo_command(app));
  add(pare::cli::add_eval_command(app));
  add(pare::cli::add_train_command(app));
  add(pare::cli::add_quantize_command(app));
  add(pare::cli::add_text_command(app));
  add(pare::cli::add_ppl_command(app));
  add(pare::cli::add_export_command(app));
  const std::vector<std::string> args(argv + 1, argv + argc);
  try {
    pare::cli::check_command_line(app, args);
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "pare: error: " << pare::cli::parse_error(app, args, e).what() << "\n";
    return 2;
  } catch (const pare::Error& e) {
    std::cerr << "pare: error: " << e.what() << "\n";
    return 2;
  }
  try {
    for (auto& [sub, action] : commands)
      if (sub->parsed()) return action();
    return 2;
  } catch (const pare::Error& e) {
    std::cerr << "pare: error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "pare: internal error: " << e.what() << "\n";
    return 1;
  }
}
