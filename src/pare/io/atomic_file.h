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

}  // namespace pare::io
