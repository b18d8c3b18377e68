// Temp-file-and-rename writes, so that an interrupted or failed run leaves no partial output.
#include "pare/io/atomic_file.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "pare/error.h"

namespace pare::io {
namespace fs = std::filesystem;

void refuse_overwrite(const std::string& output, const std::vector<std::string>& inputs) {
  std::error_code ec;
  for (const auto& in : inputs) {
    if (in.empty()) continue;
    if (fs::exists(output, ec) && fs::exists(in, ec) && fs::equivalent(output, in, ec))
      throw Error("refusing to overwrite an input file").file(output).hint("choose another --out path");
  }
}

void check_output_path(const std::string& path, const std::vector<std::string>& protected_inputs,
                       const std::string& flag, bool folder) {
  if (path.empty()) return;
  refuse_overwrite(path, protected_inputs);
  std::error_code ec;
  if (!folder && fs::is_directory(path, ec))
    throw Error(flag + " names a folder, not a file").file(path).hint("give a file name inside it");
  if (folder && fs::exists(path, ec) && !fs::is_directory(path, ec))
    throw Error(flag + " exists and is not a folder").file(path).hint("choose a folder name");
  fs::path p = fs::absolute(fs::path(path), ec).parent_path();
  while (!p.empty() && !fs::exists(p, ec) && p != p.parent_path()) p = p.parent_path();
  if (!fs::is_directory(p, ec))
    throw Error("the output's folder cannot be created: '" + p.string() + "' is a file")
        .file(path)
        .hint("choose another " + flag + " path");
  if (::access(p.c_str(), W_OK) != 0)
    throw Error("the output's folder is not writable: '" + p.string() + "'")
        .file(path)
        .hint("choose another " + flag + " path");
}

std::string make_folders(const std::string& dir) {
  if (dir.empty()) return {};
  std::error_code ec;
  fs::path top;
  for (fs::path p = fs::absolute(fs::path(dir), ec); !p.empty() && !fs::exists(p, ec); p = p.parent_path()) {
    top = p;
    if (p == p.parent_path()) break;
  }
  if (top.empty()) return {};
  fs::create_directories(dir, ec);
  if (ec) throw Error("cannot create the output folder: " + ec.message()).file(dir);
  return top.string();
}

void write_atomic(const std::string& path, const std::function<void(std::ostream&)>& write,
                  const std::vector<std::string>& protected_inputs) {
  fs::path target(path);
  fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  std::error_code ec;
  check_output_path(path, protected_inputs);
  const std::string made = make_folders(dir.string());
  fs::path tmp = dir / ("." + target.filename().string() + ".tmp" + std::to_string(::getpid()));
  try {
    {
      std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
      if (!f) throw Error("cannot create output file").file(path).hint("check that the folder is writable");
      write(f);
      f.flush();
      if (!f) throw Error("writing the output failed (disk full?)").file(path);
    }
    fs::rename(tmp, target);
  } catch (...) {
    fs::remove(tmp, ec);
    if (!made.empty()) fs::remove_all(made, ec);
    throw;
  }
}

}  // namespace pare::io
