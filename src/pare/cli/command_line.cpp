// Unknown commands and flags are found by walking the arguments the way CLI11 will: sub-command names select
// a sub-command, a flag that takes a value skips its value. Typos are matched by Levenshtein distance.
#include "pare/cli/command_line.h"

#include <algorithm>
#include <cctype>

namespace pare::cli {
namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string undashed(const std::string& s) { return s.substr(std::min(s.find_first_not_of('-'), s.size())); }

bool is_number(const std::string& s) {
  return s.size() > 1 && s[0] == '-' && (std::isdigit(static_cast<unsigned char>(s[1])) || s[1] == '.');
}

std::vector<std::string> subcommand_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
    names.push_back(sub->get_name());
  return names;
}

std::string subcommand_list(const CLI::App& app) {
  std::string all;
  for (const auto& n : subcommand_names(app)) all += (all.empty() ? "" : ", ") + n;
  return all;
}

const CLI::App* find_subcommand(const CLI::App& app, const std::string& name) {
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
    if (sub->get_name() == name) return sub;
  return nullptr;
}

std::vector<std::string> flag_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::Option* o : app.get_options()) {
    for (const auto& l : o->get_lnames()) names.push_back("--" + l);
    for (const auto& s : o->get_snames()) names.push_back("-" + s);
  }
  return names;
}

std::string full_name(const std::vector<const CLI::App*>& chain) {
  std::string s = "pare";
  for (size_t i = 1; i < chain.size(); ++i) s += " " + chain[i]->get_name();
  return s;
}

// The sub-commands the arguments select, outermost first (the app itself at the front).
std::vector<const CLI::App*> chosen(const CLI::App& app, const std::vector<std::string>& args) {
  std::vector<const CLI::App*> chain{&app};
  for (const auto& a : args) {
    if (a == "--") break;
    if (a.empty() || a[0] == '-') continue;
    if (const CLI::App* sub = find_subcommand(*chain.back(), a)) chain.push_back(sub);
  }
  return chain;
}

[[noreturn]] void unknown_flag(const std::vector<const CLI::App*>& chain, const std::string& flag) {
  const std::string cmd = full_name(chain);
  const std::string near = nearest(flag, flag_names(*chain.back()));
  throw Error(cmd + " has no flag " + flag)
      .hint((near.empty() ? "" : "did you mean " + near + "? (") + cmd + " --help lists its flags" +
            (near.empty() ? "" : ")"));
}

}  // namespace

std::string nearest(const std::string& word, const std::vector<std::string>& candidates) {
  const std::string w = undashed(word);
  std::string best;
  size_t best_d = std::max<size_t>(2, w.size() / 3) + 1;  // beyond this, a guess would mislead
  for (const auto& c : candidates) {
    const std::string u = undashed(c);
    size_t d = edit_distance(w, u);
    if (u.size() > 2 && w.size() > 2 && (u.find(w) != std::string::npos || w.find(u) != std::string::npos))
      d = std::min<size_t>(d, 1);  // --bits for --wbits, --calibration for --calib
    if (d < best_d) best_d = d, best = c;
  }
  return best;
}

void check_command_line(const CLI::App& app, const std::vector<std::string>& args) {
  std::vector<const CLI::App*> chain{&app};
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") break;
    const CLI::App& cur = *chain.back();
    if (!a.empty() && a[0] == '-' && a != "-" && !is_number(a)) {
      const std::string name = a.rfind("--", 0) == 0 ? a.substr(0, a.find('=')) : a.substr(0, 2);
      const CLI::Option* o = cur.get_option_no_throw(name);
      if (!o) o = app.get_option_no_throw(name);  // --help, --version
      if (!o) unknown_flag(chain, name);
      const bool takes_value = o->get_type_size_max() > 0 && o->get_expected_max() > 0;
      const bool inline_value = a.find('=') != std::string::npos || (name.size() == 2 && a.size() > 2);
      if (takes_value && !inline_value && o->get_expected_min() > 0) ++i;
      continue;
    }
    if (const CLI::App* sub = find_subcommand(cur, a)) {
      chain.push_back(sub);
      continue;
    }
    if (cur.get_require_subcommand_min() > 0 &&
        cur.get_options([](const CLI::Option* o) { return o->get_positional(); }).empty()) {
      const std::string cmd = full_name(chain);
      const std::string near = nearest(a, subcommand_names(cur));
      throw Error(cmd + " has no command '" + a + "'")
          .expected(subcommand_list(cur))
          .hint(near.empty() ? cmd + " --help lists them" : "did you mean " + cmd + " " + near + "?");
    }
  }
}

Error parse_error(const CLI::App& app, const std::vector<std::string>& args, const CLI::ParseError& e) {
  const std::vector<const CLI::App*> chain = chosen(app, args);
  const std::string cmd = full_name(chain);
  const CLI::App& cur = *chain.back();
  std::string what = e.what();
  if (what.find("subcommand is required") != std::string::npos) {  // CLI11's words for a missing command
    return Error(chain.size() == 1 ? "no command given" : cmd + " needs a command")
        .expected(subcommand_list(cur))
        .hint(cmd + " --help describes them");
  }
  for (const std::string extras :
       {"The following arguments were not expected: ", "The following argument was not expected: "})
    if (what.rfind(extras, 0) == 0) what = "unexpected argument: " + what.substr(extras.size());
  return Error(cmd + ": " + what).hint(cmd + " --help lists its arguments");
}

}  // namespace pare::cli
