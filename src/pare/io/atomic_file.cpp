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

void write_atomic(const std::string& path, const std::function<void(std::ostream&)>& write,
                  const std::vector<std::string>& protected_inputs) {
  refuse_overwrite(path, protected_inputs);
  fs::path target(path);
  fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw Error("output folder does not exist").file(path).hint("create it first: mkdir -p " + dir.string());
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
    throw;
  }
}

}  // namespace pare::io
