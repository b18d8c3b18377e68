// The .pare package: a quantized model in one file, for what ONNX cannot express (power grids,
// codebooks, ternary scales, group scales, expansions). Layout (little-endian):
//
//   0   8 bytes   magic "PAREPKG\0"
//   8   u32       format version (1)
//   12  u32       CRC-32 of the header bytes
//   16  u64       header length H
//   24  H bytes   header: UTF-8 JSON (below)
//   ...           blobs, each starting at a multiple of 64 bytes, so that a memory-mapped file can be
//                 read in place; each has its own CRC-32 in the header
//
// Header: {"format": "pare", "version": 1, "producer": ..., "metadata": {...},
//          "graph": BLOB,  -- the ONNX model, with float placeholders (a scalar 0) for weights that only
//                             quantized layers read
//          "blobs": {NAME: {"offset", "bytes", "crc32"}},
//          "quantized": [{"node", "weight", "weight_input", "out_axis", "shape", "granularity",
//                         "grid": {"kind", "bits", "signed", "symmetric", "exponent", "table": BLOB?},
//                         "codes": BLOB (code - qmin, packed at the grid's bit width, bit_packing.h),
//                         "scales": BLOB (float16 when scale_bits is 16, else float32), "scale_bits",
//                         "zero_points": BLOB (int16) or null,
//                         "terms": [residual-expansion terms (REx), each an entry as above for a [k, R]
//                                   matrix with "rows": BLOB (int32, ascending) or null for all rows]?}]}
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pare/io/package_format.h"
#include "pare/ir/graph.h"

namespace pare::io {

// One quantized weight of a package: the node that reads it, where, and its codes.
struct PackageWeight {
  std::string node;      // node name
  std::string weight;    // initializer name
  int weight_input = 1;  // input position of the weight
  std::string op_type;   // the node's op (filled in on load)
  formats::QuantizedWeight q;
};

struct Package {
  ir::Graph graph;                     // runnable: quantized weights dequantized in place
  std::vector<PackageWeight> weights;  // as stored
  nlohmann::json header;
  int64_t file_bytes = 0;
};

// Writes `graph` (float weights, activation Q/DQ already inserted) with the quantized `weights`.
// Atomic; refuses to overwrite `protected_inputs`.
void save_package(const std::string& path, const ir::Graph& graph, const std::vector<PackageWeight>& weights,
                  const nlohmann::json& metadata, const std::vector<std::string>& protected_inputs = {});

// Reads a package (memory-mapped). Every structural problem is an Error naming the file and the part.
Package load_package(const std::string& path);
// `verify_checksums` false is for fuzzing only: it lets mutated bytes reach the parser behind the CRCs.
Package package_from_bytes(const uint8_t* data, size_t size, const std::string& context, bool verify_checksums = true);

// Whether the file starts with the package magic.
bool is_package(const std::string& path);

// Any model pare reads: a .pare package (by its magic) or ONNX. Returns the runnable graph.
ir::Graph load_model(const std::string& path);

}  // namespace pare::io
