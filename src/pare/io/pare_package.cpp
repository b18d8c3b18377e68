#include "pare/io/pare_package.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <set>

#include "pare/error.h"
#include "pare/io/atomic_file.h"
#include "pare/io/bit_packing.h"
#include "pare/io/onnx_export.h"
#include "pare/io/onnx_import.h"

namespace pare::io {

namespace {

constexpr char kMagic[8] = {'P', 'A', 'R', 'E', 'P', 'K', 'G', '\0'};
constexpr size_t kPrefix = 24, kAlign = 64;

uint32_t crc(const uint8_t* p, size_t n) {
  uLong c = crc32(0L, Z_NULL, 0);
  while (n > 0) {  // zlib takes uInt lengths
    const uInt chunk = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    c = crc32(c, p, chunk);
    p += chunk;
    n -= chunk;
  }
  return static_cast<uint32_t>(c);
}

std::string tensor_bytes(const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  return std::string(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
}

nlohmann::json grid_json(const quant::Grid& g) {
  static const char* kinds[] = {"uniform", "power", "ternary", "codebook"};
  return {{"kind", kinds[static_cast<int>(g.kind)]},
          {"bits", g.bits},
          {"signed", g.is_signed},
          {"symmetric", g.symmetric},
          {"exponent", g.exponent}};
}

}  // namespace

void save_package(const std::string& path, const ir::Graph& graph, const std::vector<quant::QuantizedLayer>& layers,
                  const nlohmann::json& metadata, const std::vector<std::string>& protected_inputs) {
  refuse_overwrite(path, protected_inputs);
  std::vector<std::pair<std::string, std::string>> blobs;  // name, bytes
  nlohmann::json quantized = nlohmann::json::array();
  std::set<std::string> quantized_nodes;
  for (const auto& l : layers)
    if (l.plan.quantize) quantized_nodes.insert(l.plan.layer.node);

  ir::Graph stored = graph.clone();
  for (size_t i = 0; i < layers.size(); ++i) {
    const auto& l = layers[i];
    if (!l.plan.quantize) continue;
    const quant::QuantizedTensor& q = l.weight;
    const std::string key = "q" + std::to_string(i);
    nlohmann::json e{{"node", l.plan.layer.node},
                     {"weight", l.plan.layer.weight},
                     {"weight_input", l.plan.layer.weight_input},
                     {"out_axis", q.out_axis},
                     {"shape", q.shape},
                     {"granularity", q.granularity.str()},
                     {"grid", grid_json(q.grid)},
                     {"scale_bits", q.scale_bits}};
    blobs.emplace_back(key + ".codes", pack_bits(q.codes.to(at::kInt) - q.grid.qmin(), q.grid.bits));
    e["codes"] = key + ".codes";
    blobs.emplace_back(key + ".scales", tensor_bytes(q.scales.to(q.scale_bits == 16 ? at::kHalf : at::kFloat)));
    e["scales"] = key + ".scales";
    e["scales_shape"] = q.scales.sizes().vec();
    if (q.zero_points.defined()) {
      blobs.emplace_back(key + ".zero_points", tensor_bytes(q.zero_points.to(at::kShort)));
      e["zero_points"] = key + ".zero_points";
    } else {
      e["zero_points"] = nullptr;
    }
    if (q.grid.kind == quant::GridKind::Codebook) {
      blobs.emplace_back(key + ".table", tensor_bytes(q.grid.table.to(at::kFloat)));
      e["grid"]["table"] = key + ".table";
    }
    quantized.push_back(e);
    // The float weight is left out when only quantized layers read it (a scalar placeholder keeps the
    // ONNX graph well formed); it stays when a float layer reads it too.
    bool only_quantized = !stored.is_output(l.plan.layer.weight);
    for (auto id : stored.consumers(l.plan.layer.weight))
      only_quantized &= quantized_nodes.count(stored.nodes[id].name) > 0;
    if (only_quantized) stored.initializers[l.plan.layer.weight] = at::zeros({}, at::kFloat);
  }
  std::string onnx_bytes;
  if (!graph_to_model(stored).SerializeToString(&onnx_bytes))
    throw Error("cannot serialize the model graph").file(path);
  blobs.insert(blobs.begin(), {"graph", std::move(onnx_bytes)});

  nlohmann::json header{
      {"format", "pare"},     {"version", kPackageVersion}, {"producer", std::string("pare ") + PARE_VERSION},
      {"metadata", metadata}, {"graph", "graph"},           {"quantized", quantized}};
  // Offsets depend on the header's length, which depends on the offsets' digits: iterate until stable.
  nlohmann::json table;
  std::string text;
  size_t start = 0;
  for (int round = 0; round < 4; ++round) {
    size_t offset = (kPrefix + text.size() + kAlign - 1) / kAlign * kAlign;
    start = offset;
    table = nlohmann::json::object();
    for (const auto& [name, bytes] : blobs) {
      table[name] = {{"offset", offset},
                     {"bytes", bytes.size()},
                     {"crc32", crc(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size())}};
      offset = (offset + bytes.size() + kAlign - 1) / kAlign * kAlign;
    }
    header["blobs"] = table;
    const std::string next = header.dump();
    if (next.size() == text.size()) break;
    text = next;
  }
  text = header.dump();
  PARE_ASSERT((kPrefix + text.size() + kAlign - 1) / kAlign * kAlign == start, "package header size did not settle");

  write_atomic(
      path,
      [&](std::ostream& out) {
        out.write(kMagic, 8);
        const uint32_t version = kPackageVersion;
        const uint32_t hcrc = crc(reinterpret_cast<const uint8_t*>(text.data()), text.size());
        const uint64_t hlen = text.size();
        out.write(reinterpret_cast<const char*>(&version), 4);
        out.write(reinterpret_cast<const char*>(&hcrc), 4);
        out.write(reinterpret_cast<const char*>(&hlen), 8);
        out.write(text.data(), static_cast<std::streamsize>(text.size()));
        size_t pos = kPrefix + text.size();
        for (const auto& [name, bytes] : blobs) {
          const size_t offset = table[name]["offset"].get<size_t>();
          const std::string pad(offset - pos, '\0');
          out.write(pad.data(), static_cast<std::streamsize>(pad.size()));
          out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
          pos = offset + bytes.size();
        }
      },
      protected_inputs);
}

namespace {

struct Reader {
  const uint8_t* data;
  size_t size;
  std::string context;
  bool verify;
  nlohmann::json header;

  [[noreturn]] void fail(const std::string& what, const std::string& hint = "") const {
    Error e(what);
    e.file(context);
    e.hint(hint.empty() ? "the package is damaged or was not written by pare; write it again with pare quantize"
                        : hint);
    throw e;
  }

  // A JSON integer in [lo, hi]. nlohmann's get<int>() casts a float such as 1e99 without a check (undefined
  // behaviour) and wraps large integers, so every number the reader uses goes through here.
  int64_t integer(const nlohmann::json& j, const std::string& what, int64_t lo = INT32_MIN,
                  int64_t hi = INT32_MAX) const {
    if (!j.is_number_integer()) fail(what + " is not an integer (got " + j.dump() + ")");
    if ((j.is_number_unsigned() && j.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) || j.get<int64_t>() < lo ||
        j.get<int64_t>() > hi)
      fail(what + " is out of range (got " + j.dump() + ")");
    return j.get<int64_t>();
  }
  std::vector<int64_t> integers(const nlohmann::json& j, const std::string& what) const {
    if (!j.is_array()) fail(what + " is not an array of integers");
    std::vector<int64_t> v;
    for (const auto& x : j) v.push_back(integer(x, what, INT64_MIN, INT64_MAX));
    return v;
  }

  // The bytes of blob `name`, checked against its recorded size, alignment and CRC.
  std::pair<const uint8_t*, size_t> blob(const nlohmann::json& name_json) const {
    if (!name_json.is_string()) fail("package header names a blob with a non-string");
    const std::string name = name_json.get<std::string>();
    const auto& blobs = header.at("blobs");
    if (!blobs.contains(name)) fail("package header refers to a missing blob '" + name + "'");
    const auto& b = blobs.at(name);
    const uint64_t offset = integer(b.at("offset"), "offset of blob '" + name + "'", 0, INT64_MAX),
                   bytes = integer(b.at("bytes"), "size of blob '" + name + "'", 0, INT64_MAX);
    if (offset % kAlign != 0) fail("blob '" + name + "' is not 64-byte aligned");
    if (offset > size || bytes > size - offset) fail("blob '" + name + "' runs past the end of the file (truncated?)");
    if (verify && crc(data + offset, bytes) != integer(b.at("crc32"), "crc32 of blob '" + name + "'", 0, UINT32_MAX))
      fail("blob '" + name + "' fails its checksum");
    return {data + offset, static_cast<size_t>(bytes)};
  }
};

int64_t product(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0 || (d > 0 && n > (int64_t{1} << 40) / d)) return -1;
    n *= d;
  }
  return n;
}

quant::Grid grid_from_json(const nlohmann::json& j, const Reader& r, const std::string& weight) {
  const std::string kind = j.at("kind").get<std::string>();
  const auto bits = [&] { return static_cast<int>(r.integer(j.at("bits"), "grid bits of '" + weight + "'")); };
  quant::Grid g;
  if (kind == "uniform") {
    g = quant::Grid::uniform(bits(), j.at("symmetric").get<bool>(), j.at("signed").get<bool>());
  } else if (kind == "power") {
    g = quant::Grid::power(bits(), j.at("exponent").get<double>());
  } else if (kind == "ternary") {
    g = quant::Grid::ternary();
  } else if (kind == "codebook") {
    auto [p, n] = r.blob(j.at("table"));
    if (n % 4 != 0 || n == 0) r.fail("codebook table has a size that is not a whole number of floats");
    at::Tensor t = at::empty({static_cast<int64_t>(n / 4)}, at::kFloat);
    std::memcpy(t.data_ptr(), p, n);
    g = quant::Grid::codebook(t);
  } else {
    r.fail("unknown grid kind '" + kind + "'", "this package may come from a newer pare");
  }
  g.validate("package grid");
  return g;
}

}  // namespace

Package package_from_bytes(const uint8_t* data, size_t size, const std::string& context, bool verify_checksums) {
  Reader r{data, size, context, verify_checksums, {}};
  if (size < kPrefix || std::memcmp(data, kMagic, 8) != 0)
    r.fail("not a .pare package (bad magic)", "pass an ONNX file or a package written by pare quantize");
  uint32_t version, hcrc;
  uint64_t hlen;
  std::memcpy(&version, data + 8, 4);
  std::memcpy(&hcrc, data + 12, 4);
  std::memcpy(&hlen, data + 16, 8);
  if (version != kPackageVersion)
    r.fail("unsupported package version " + std::to_string(version), "this pare reads version 1; upgrade pare");
  if (hlen > size - kPrefix) r.fail("package header runs past the end of the file (truncated?)");
  if (verify_checksums && crc(data + kPrefix, hlen) != hcrc) r.fail("package header fails its checksum");
  Package pkg;
  pkg.file_bytes = static_cast<int64_t>(size);
  try {
    r.header = nlohmann::json::parse(data + kPrefix, data + kPrefix + hlen);
    if (!r.header.is_object() || r.header.value("format", "") != "pare") r.fail("package header is not a pare header");
    auto [gp, gn] = r.blob(r.header.at("graph"));
    // A package is self-contained: pare writes every tensor inline. External-data references are looked
    // up in a folder that does not exist, so a crafted package cannot make pare read other files.
    pkg.graph = load_onnx_from_bytes(std::string(reinterpret_cast<const char*>(gp), gn),
                                     "/nonexistent-pare-package-external-data", context);
    for (const auto& e : r.header.at("quantized")) {
      quant::QuantizedLayer l;
      l.plan.layer.node = e.at("node").get<std::string>();
      l.plan.layer.weight = e.at("weight").get<std::string>();
      l.plan.layer.weight_input =
          static_cast<int>(r.integer(e.at("weight_input"), "weight_input of '" + l.plan.layer.node + "'"));
      auto id = pkg.graph.find_node(l.plan.layer.node);
      if (!id) r.fail("quantized layer '" + l.plan.layer.node + "' is not in the package's graph");
      const ir::Node& node = pkg.graph.nodes[*id];
      if (l.plan.layer.weight_input < 0 || l.plan.layer.weight_input >= static_cast<int>(node.inputs.size()) ||
          node.inputs[l.plan.layer.weight_input] != l.plan.layer.weight ||
          !pkg.graph.is_initializer(l.plan.layer.weight))
        r.fail("quantized weight '" + l.plan.layer.weight + "' is not an initializer input of node '" +
               l.plan.layer.node + "'");
      l.plan.layer.op_type = node.op_type;
      quant::QuantizedTensor& q = l.weight;
      const std::string& w = l.plan.layer.weight;
      q.grid = grid_from_json(e.at("grid"), r, w);
      q.granularity = quant::Granularity::parse(e.at("granularity").get<std::string>());
      q.shape = r.integers(e.at("shape"), "shape of '" + w + "'");
      q.out_axis = r.integer(e.at("out_axis"), "out_axis of '" + w + "'");
      q.scale_bits = static_cast<int>(r.integer(e.at("scale_bits"), "scale_bits of '" + w + "'"));
      const int64_t numel = product(q.shape);
      if (numel <= 0 || q.shape.size() > 8) r.fail("quantized weight '" + l.plan.layer.weight + "' has a bad shape");
      if (q.shape.size() > 1 && (q.out_axis < 0 || q.out_axis >= static_cast<int64_t>(q.shape.size())))
        r.fail("quantized weight '" + l.plan.layer.weight + "' has a bad output axis");
      if (q.scale_bits != 16 && q.scale_bits != 32) r.fail("scale_bits must be 16 or 32");
      const int64_t o = q.shape.size() <= 1 ? numel : q.shape[q.out_axis], red = numel / o;
      auto [cp, cn] = r.blob(e.at("codes"));
      if (static_cast<int64_t>(cn) != packed_bytes(numel, q.grid.bits))
        r.fail("codes of '" + l.plan.layer.weight + "' have the wrong size");
      q.codes = (unpack_bits(cp, numel, q.grid.bits) + static_cast<int16_t>(q.grid.qmin())).reshape({o, red});
      if ((q.codes > q.grid.qmax()).any().item<bool>())
        r.fail("codes of '" + l.plan.layer.weight + "' are out of range");
      const std::vector<int64_t> sshape = quant::scale_shape(o, red, q.granularity);
      if (r.integers(e.at("scales_shape"), "scales_shape of '" + w + "'") != sshape)
        r.fail("scales of '" + l.plan.layer.weight + "' do not match its granularity");
      auto [sp, sn] = r.blob(e.at("scales"));
      const at::ScalarType st = q.scale_bits == 16 ? at::kHalf : at::kFloat;
      const int64_t scount = product(sshape);
      if (static_cast<int64_t>(sn) != scount * (q.scale_bits / 8))
        r.fail("scales of '" + l.plan.layer.weight + "' have the wrong size");
      at::Tensor s = at::empty(sshape, st);
      std::memcpy(s.data_ptr(), sp, sn);
      q.scales = s.to(at::kFloat);
      if (!at::isfinite(q.scales).all().item<bool>() || (q.scales < 0).any().item<bool>())
        r.fail("scales of '" + l.plan.layer.weight + "' are negative, NaN or Inf");
      if (!e.at("zero_points").is_null()) {
        if (!q.grid.has_zero_point()) r.fail("zero points stored for a grid without them");
        auto [zp, zn] = r.blob(e.at("zero_points"));
        if (static_cast<int64_t>(zn) != scount * 2)
          r.fail("zero points of '" + l.plan.layer.weight + "' have the wrong size");
        at::Tensor z = at::empty(sshape, at::kShort);
        std::memcpy(z.data_ptr(), zp, zn);
        q.zero_points = z;
      } else if (q.grid.has_zero_point()) {
        r.fail("zero points missing for '" + l.plan.layer.weight + "'");
      }
      pkg.layers.push_back(std::move(l));
    }
  } catch (const nlohmann::json::exception& ex) {
    r.fail(std::string("malformed package header: ") + ex.what());
  }
  quant::substitute_dequantized(pkg.graph, pkg.layers);
  pkg.header = std::move(r.header);
  return pkg;
}

Package load_package(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw Error("cannot open package").file(path).hint("check the path");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size <= 0) {
    ::close(fd);
    throw Error("package is empty or unreadable").file(path);
  }
  const size_t size = static_cast<size_t>(st.st_size);
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) throw Error("cannot memory-map package").file(path);
  try {
    Package p = package_from_bytes(static_cast<const uint8_t*>(map), size, path);
    ::munmap(map, size);
    return p;
  } catch (...) {
    ::munmap(map, size);
    throw;
  }
}

bool is_package(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[8] = {};
  return in.read(magic, 8) && std::memcmp(magic, kMagic, 8) == 0;
}

ir::Graph load_model(const std::string& path) {
  if (is_package(path)) return load_package(path).graph;
  return load_onnx(path);
}

}  // namespace pare::io
