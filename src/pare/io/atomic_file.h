// Writes a file so that readers see either the old file or the complete new one: data goes to a
// temporary file in the same folder, which is renamed over the target only after a successful close.
#pragma once
#include <functional>
#include <ostream>
#include <string>

namespace pare::io {

// Calls `write` with a stream on a temporary file, then renames it to `path`. On any exception the
// temporary file is removed and `path` is untouched. Refuses to overwrite any of `protected_inputs`.
void write_atomic(const std::string& path, const std::function<void(std::ostream&)>& write,
                  const std::vector<std::string>& protected_inputs = {});

// Throws Error if `output` names the same file as one of `inputs` (the input would be overwritten).
void refuse_overwrite(const std::string& output, const std::vector<std::string>& inputs);

// The one rule for output paths, checked before any long work: `path` (given with `flag`) is not one of
// `protected_inputs`, not an existing folder (unless `folder`: then it must not be a file), and its missing
// folders can be created (the nearest existing one is a writable folder). Every command creates missing
// output folders when it writes, so a run never fails at its end for want of one.
void check_output_path(const std::string& path, const std::vector<std::string>& protected_inputs = {},
                       const std::string& flag = "--out", bool folder = false);

// Creates the missing folders of `dir`; returns the top-most one it created (empty: none), so that a failed
// write can remove what it made.
std::string make_folders(const std::string& dir);

}  // namespace pare::io
