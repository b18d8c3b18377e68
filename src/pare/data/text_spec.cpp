// Text spec parsing and loading.
#include "pare/data/text_spec.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "pare/error.h"

namespace pare::data {

namespace {
const char* kForms = "text:FILE, brown:train, brown:valid, brown:heldout or brown:all";
}  // namespace

std::string find_brown_dir(const TextPaths& paths) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (paths.brown_dir != kBrownDefaultDir || fs::is_directory(paths.brown_dir, ec)) return paths.brown_dir;
  if (const char* env = std::getenv("PARE_BROWN_DIR"); env && *env) return env;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec)
    for (fs::path dir = exe.parent_path(); !dir.empty() && dir != dir.root_path(); dir = dir.parent_path())
      if (fs::is_directory(dir / kBrownDefaultDir, ec)) return (dir / kBrownDefaultDir).string();
  return paths.brown_dir;
}

TextSpec TextSpec::parse(const std::string& text) {
  TextSpec s;
  s.text = text;
  const auto colon = text.find(':');
  if (colon == std::string::npos || colon == 0) throw Error("text spec '" + text + "' has no kind").expected(kForms);
  s.kind = text.substr(0, colon);
  s.arg = text.substr(colon + 1);
  if (s.kind == "text") {
    if (s.arg.empty()) throw Error("text spec '" + text + "' names no file").expected(kForms);
  } else if (s.kind == "brown") {
    parse_brown_split(s.arg);  // throws for an unknown split
  } else {
    throw Error("unknown text kind '" + s.kind + "' in '" + text + "'").expected(kForms);
  }
  return s;
}

std::string load_text(const TextSpec& spec, const TextPaths& paths) {
  if (spec.kind == "brown") return brown_text(find_brown_dir(paths), parse_brown_split(spec.arg));
  std::error_code ec;
  if (!std::filesystem::is_regular_file(spec.arg, ec))
    throw Error("text file not found").file(spec.arg).hint("text:FILE names a plain UTF-8 text file");
  std::ifstream f(spec.arg, std::ios::binary);
  if (!f) throw Error("cannot read the text file").file(spec.arg).hint("check its permissions");
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

}  // namespace pare::data
