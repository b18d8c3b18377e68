#include "pare/io/json_file.h"

#include <fstream>

#include "pare/error.h"

namespace pare::io {

nlohmann::json read_json_file(const std::string& path, const std::string& what, const std::string& hint) {
  std::ifstream in(path);
  if (!in) throw Error("cannot read " + what).file(path).hint(hint);
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(what + " is not valid JSON").file(path).got(e.what());
  }
}

}  // namespace pare::io
