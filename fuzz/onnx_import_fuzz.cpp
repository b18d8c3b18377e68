// libFuzzer target: arbitrary bytes parsed as an ONNX model, converted to ir::Graph and handed to
// exec::Executor's constructor (op resolution). A pare::Error is the expected answer to a malformed model;
// any other exception, sanitizer report or crash is a bug. External data is looked up in a folder that
// does not exist, so inputs cannot reach files on the machine.
#include <cstddef>
#include <cstdint>
#include <string>

#include "pare/error.h"
#include "pare/exec/executor.h"
#include "pare/io/onnx_import.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    pare::ir::Graph g = pare::io::load_onnx_from_bytes(bytes, "/nonexistent-pare-fuzz-dir", "fuzz.onnx");
    pare::exec::Executor ex(g);
  } catch (const pare::Error&) {
  }
  return 0;
}
