// libFuzzer target: arbitrary bytes through io::npy_from_bytes. Any exception other than pare::Error, any
// sanitizer report, and any crash is a bug; a pare::Error is the expected answer to a malformed file.
#include <cstddef>
#include <cstdint>
#include <string>

#include "pare/error.h"
#include "pare/io/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    at::Tensor t = pare::io::npy_from_bytes(bytes, "fuzz.npy");
    // A decoded array must round-trip exactly: re-encode and decode again.
    at::Tensor back = pare::io::npy_from_bytes(pare::io::npy_to_bytes(t), "fuzz-roundtrip.npy");
    if (back.sizes() != t.sizes() || back.scalar_type() != t.scalar_type()) __builtin_trap();
  } catch (const pare::Error&) {
  }
  return 0;
}
