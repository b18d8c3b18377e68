// libFuzzer target: arbitrary bytes through io::package_from_bytes (prefix, JSON header, blob table, the
// embedded ONNX graph, grids, packed codes, scales). Checksums are not verified here so that mutations
// reach the parser behind them; a pare::Error is the expected answer to a malformed package, anything
// else (another exception, a sanitizer report, a crash) is a bug.
#include <cstddef>
#include <cstdint>

#include "pare/error.h"
#include "pare/io/pare_package.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const pare::io::Package p = pare::io::package_from_bytes(data, size, "fuzz.pare", /*verify_checksums=*/false);
    for (const auto& l : p.weights)
      if (!p.graph.is_initializer(l.weight) && l.q.numel() > 0) {
        // Loading may have given a shared weight's reader its own copy; the node must still read a value.
        if (!p.graph.find_node(l.node)) __builtin_trap();
      }
  } catch (const pare::Error&) {
  }
  return 0;
}
