// libFuzzer target: arbitrary bytes through io::GgufFile::from_bytes (header, metadata of every value type
// including nested arrays, tensor infos, alignment, offsets and overlaps), then every value's text, the raw
// bytes of every tensor and, for small decodable ones, tensor_f32. A pare::Error is the expected answer to a
// malformed file; any other exception, a sanitizer report or a crash is a bug.
#include <cstddef>
#include <cstdint>

#include "pare/error.h"
#include "pare/io/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const pare::io::GgufFile f = pare::io::GgufFile::from_bytes(data, size, "fuzz.gguf");
    for (const auto& [key, value] : f.metadata()) {
      if (f.find(key) == nullptr) __builtin_trap();
      (void)value.text();
    }
    for (const auto& t : f.tensors()) {
      const pare::io::GgufBytes raw = f.raw(t.name);
      if (raw.size != t.size_bytes) __builtin_trap();
      if (t.size_bytes > 0 && f.data_offset() + t.offset + t.size_bytes > f.file_bytes()) __builtin_trap();
      if (t.numel() > (1 << 20)) continue;  // decoding is linear; keep each input fast
      try {
        const at::Tensor x = f.tensor_f32(t.name);
        if (x.numel() != t.numel()) __builtin_trap();
      } catch (const pare::Error&) {  // a type pare cannot decode
      }
    }
  } catch (const pare::Error&) {
  }
  return 0;
}
