// libFuzzer target: arbitrary bytes through io::SafetensorsModel::from_bytes (header length, JSON header with
// duplicate keys, dtypes, shapes, data_offsets, the tiling of the buffer, __metadata__), then tensor() and
// tensor_f32() of every tensor it accepted. A pare::Error is the expected answer to a malformed file; anything else
// (another exception, a sanitizer report, a crash) is a bug.
#include <cstddef>
#include <cstdint>
#include <string>

#include "pare/error.h"
#include "pare/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const pare::io::SafetensorsModel m = pare::io::SafetensorsModel::from_bytes(
        std::string(reinterpret_cast<const char*>(data), size), "fuzz.safetensors");
    for (const auto& name : m.names()) {
      const pare::io::SafetensorsEntry& e = m.entry(name);
      try {
        const at::Tensor t = m.tensor(name);
        // An accepted tensor covers exactly its recorded bytes; reading all of them lets ASan check the bounds.
        if (static_cast<uint64_t>(t.numel()) * t.element_size() != e.end - e.begin) __builtin_trap();
        (void)m.tensor_f32(name).sum().item<float>();
      } catch (const pare::Error&) {  // a dtype libtorch cannot hold: the other tensors are still read
      }
    }
  } catch (const pare::Error&) {
  }
  return 0;
}
