// libFuzzer target: arbitrary bytes through io::NpzArchive (zip central directory, local headers, raw inflate,
// CRC-32, then the NPY parser for every member). Any exception other than pare::Error, any sanitizer report,
// and any crash is a bug; a pare::Error is the expected answer to a malformed archive.
#include <cstddef>
#include <cstdint>
#include <string>

#include "pare/error.h"
#include "pare/io/npz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    const pare::io::NpzArchive a = pare::io::NpzArchive::from_bytes(bytes, "fuzz.npz");
    for (const std::string& name : a.names()) {
      if (!a.contains(name)) __builtin_trap();
      try {
        at::Tensor t = a.array(name);
        if (!t.defined()) __builtin_trap();
      } catch (const pare::Error&) {  // one bad member must not hide the others
      }
    }
  } catch (const pare::Error&) {
  }
  return 0;
}
