// Reads a whole JSON file (recipes, model configs), with the two errors every caller wants: the file
// cannot be read, or it is not JSON. `what` names the file's role in messages ("recipe", "config").
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace pare::io {

nlohmann::json read_json_file(const std::string& path, const std::string& what,
                              const std::string& hint = "check the path");

}  // namespace pare::io
