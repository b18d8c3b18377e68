#include "pare/io/package_format.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cstring>

#include "pare/error.h"
#include "pare/formats/bit_packing.h"
#include "pare/io/atomic_file.h"

namespace pare::io {

const char kPackageMagic[8] = {'P', 'A', 'R', 'E', 'P', 'K', 'G', '\0'};

uint32_t package_crc(const uint8_t* p, size_t n, uint32_t start) {
  uLong c = start == 0 ? crc32(0L, Z_NULL, 0) : start;
  while (n > 0) {  // zlib takes uInt lengths
    const uInt chunk = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    c = crc32(c, p, chunk);
    p += chunk;
    n -= chunk;
  }
  return static_cast<uint32_t>(c);
}

BlobSource memory_blob(std::string name, std::string bytes) {
  BlobSource b;
  b.name = std::move(name);
  b.bytes = bytes.size();
  b.crc32 = package_crc(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  auto data = std::make_shared<std::string>(std::move(bytes));
  b.write = [data](std::ostream& out) { out.write(data->data(), static_cast<std::streamsize>(data->size())); };
  return b;
}

void write_package(const std::string& path, nlohmann::json header, const std::vector<BlobSource>& blobs,
                   const std::vector<std::string>& protected_inputs) {
  refuse_overwrite(path, protected_inputs);
  // Offsets depend on the header's length, which depends on the offsets' digits: iterate until stable.
  nlohmann::json table;
  std::string text;
  size_t start = 0;
  for (int round = 0; round < 4; ++round) {
    size_t offset = (kPackagePrefix + text.size() + kPackageAlign - 1) / kPackageAlign * kPackageAlign;
    start = offset;
    table = nlohmann::json::object();
    for (const auto& b : blobs) {
      table[b.name] = {{"offset", offset}, {"bytes", b.bytes}, {"crc32", b.crc32}};
      offset = (offset + b.bytes + kPackageAlign - 1) / kPackageAlign * kPackageAlign;
    }
    header["blobs"] = table;
    const std::string next = header.dump();
    if (next.size() == text.size()) break;
    text = next;
  }
  text = header.dump();
  PARE_ASSERT((kPackagePrefix + text.size() + kPackageAlign - 1) / kPackageAlign * kPackageAlign == start,
              "package header size did not settle");
  write_atomic(
      path,
      [&](std::ostream& out) {
        out.write(kPackageMagic, 8);
        const uint32_t version = kPackageVersion;
        const uint32_t hcrc = package_crc(reinterpret_cast<const uint8_t*>(text.data()), text.size());
        const uint64_t hlen = text.size();
        out.write(reinterpret_cast<const char*>(&version), 4);
        out.write(reinterpret_cast<const char*>(&hcrc), 4);
        out.write(reinterpret_cast<const char*>(&hlen), 8);
        out.write(text.data(), static_cast<std::streamsize>(text.size()));
        size_t pos = kPackagePrefix + text.size();
        for (const auto& b : blobs) {
          const size_t offset = table[b.name]["offset"].get<size_t>();
          const std::string pad(offset - pos, '\0');
          out.write(pad.data(), static_cast<std::streamsize>(pad.size()));
          const auto before = out.tellp();
          b.write(out);
          if (out.tellp() - before != static_cast<std::streamoff>(b.bytes))
            throw Error("blob '" + b.name + "' changed size while the package was written").file(path);
          pos = offset + b.bytes;
        }
      },
      protected_inputs);
}

namespace {

std::string tensor_bytes(const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  return std::string(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
}

nlohmann::json grid_json(const formats::Grid& g) {
  static const char* kinds[] = {"uniform", "power", "ternary", "codebook"};
  return {{"kind", kinds[static_cast<int>(g.kind)]},
          {"bits", g.bits},
          {"signed", g.is_signed},
          {"symmetric", g.symmetric},
          {"exponent", g.exponent}};
}

// One quantized tensor's header fields, its blobs appended to `blobs`.
nlohmann::json tensor_entry(const formats::QuantizedTensor& q, const std::string& key,
                            std::vector<std::pair<std::string, std::string>>& blobs) {
  nlohmann::json e{{"out_axis", q.out_axis},
                   {"shape", q.shape},
                   {"granularity", q.granularity.str()},
                   {"grid", grid_json(q.grid)},
                   {"scale_bits", q.scale_bits}};
  blobs.emplace_back(key + ".codes", formats::pack_bits(q.codes.to(at::kInt) - q.grid.qmin(), q.grid.bits));
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
  if (q.grid.kind == formats::GridKind::Codebook) {
    blobs.emplace_back(key + ".table", tensor_bytes(q.grid.table.to(at::kFloat)));
    e["grid"]["table"] = key + ".table";
  }
  return e;
}

}  // namespace

nlohmann::json quantized_entry(const formats::QuantizedWeight& q, const std::string& key,
                               std::vector<std::pair<std::string, std::string>>& blobs) {
  nlohmann::json e = tensor_entry(q.main, key, blobs);
  if (!q.terms.empty()) {
    e["terms"] = nlohmann::json::array();
    for (size_t i = 0; i < q.terms.size(); ++i) {
      const std::string tk = key + ".t" + std::to_string(i + 2);
      nlohmann::json t = tensor_entry(q.terms[i].q, tk, blobs);
      if (q.terms[i].rows.defined()) {
        blobs.emplace_back(tk + ".rows", tensor_bytes(q.terms[i].rows.to(at::kInt)));
        t["rows"] = tk + ".rows";
      } else {
        t["rows"] = nullptr;
      }
      e["terms"].push_back(t);
    }
  }
  return e;
}

void PackageReader::open() {
  if (size < kPackagePrefix || std::memcmp(data, kPackageMagic, 8) != 0)
    fail("not a .pare package (bad magic)", "pass an ONNX file or a package written by pare quantize");
  uint32_t version, hcrc;
  uint64_t hlen;
  std::memcpy(&version, data + 8, 4);
  std::memcpy(&hcrc, data + 12, 4);
  std::memcpy(&hlen, data + 16, 8);
  if (version != kPackageVersion)
    fail("unsupported package version " + std::to_string(version), "this pare reads version 1; upgrade pare");
  if (hlen > size - kPackagePrefix) fail("package header runs past the end of the file (truncated?)");
  if (verify && package_crc(data + kPackagePrefix, hlen) != hcrc) fail("package header fails its checksum");
  try {
    header = nlohmann::json::parse(data + kPackagePrefix, data + kPackagePrefix + hlen);
  } catch (const nlohmann::json::exception& ex) {
    fail(std::string("malformed package header: ") + ex.what());
  }
  // Checked by type first: json::value() throws its own type_error when "format" is not a string.
  if (!header.is_object() || !header.contains("format") || !header["format"].is_string() ||
      header["format"].get<std::string>() != "pare")
    fail("package header is not a pare header");
  if (!header.contains("blobs") || !header["blobs"].is_object()) fail("package header has no blob table");
}

void PackageReader::fail(const std::string& what, const std::string& hint) const {
  Error e(what);
  e.file(context);
  e.hint(hint.empty() ? "the package is damaged or was not written by pare; write it again with pare quantize" : hint);
  throw e;
}

int64_t PackageReader::integer(const nlohmann::json& j, const std::string& what, int64_t lo, int64_t hi) const {
  if (!j.is_number_integer()) fail(what + " is not an integer (got " + j.dump() + ")");
  if ((j.is_number_unsigned() && j.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) || j.get<int64_t>() < lo ||
      j.get<int64_t>() > hi)
    fail(what + " is out of range (got " + j.dump() + ")");
  return j.get<int64_t>();
}

std::vector<int64_t> PackageReader::integers(const nlohmann::json& j, const std::string& what) const {
  if (!j.is_array()) fail(what + " is not an array of integers");
  std::vector<int64_t> v;
  for (const auto& x : j) v.push_back(integer(x, what, INT64_MIN, INT64_MAX));
  return v;
}

std::pair<uint64_t, uint64_t> PackageReader::blob_range(const nlohmann::json& name_json) const {
  if (!name_json.is_string()) fail("package header names a blob with a non-string");
  const std::string name = name_json.get<std::string>();
  const auto& blobs = header.at("blobs");
  if (!blobs.contains(name)) fail("package header refers to a missing blob '" + name + "'");
  const auto& b = blobs.at(name);
  if (!b.is_object() || !b.contains("offset") || !b.contains("bytes") || !b.contains("crc32"))
    fail("blob '" + name + "' lacks its offset, size or checksum");
  const uint64_t offset = integer(b.at("offset"), "offset of blob '" + name + "'", 0, INT64_MAX),
                 bytes = integer(b.at("bytes"), "size of blob '" + name + "'", 0, INT64_MAX);
  integer(b.at("crc32"), "crc32 of blob '" + name + "'", 0, UINT32_MAX);
  if (offset % kPackageAlign != 0) fail("blob '" + name + "' is not 64-byte aligned");
  if (offset > size || bytes > size - offset) fail("blob '" + name + "' runs past the end of the file (truncated?)");
  return {offset, bytes};
}

std::pair<const uint8_t*, size_t> PackageReader::blob(const nlohmann::json& name_json) const {
  const auto [offset, bytes] = blob_range(name_json);
  if (verify &&
      package_crc(data + offset, bytes) != header["blobs"][name_json.get<std::string>()]["crc32"].get<uint64_t>())
    fail("blob '" + name_json.get<std::string>() + "' fails its checksum");
  return {data + offset, static_cast<size_t>(bytes)};
}

MappedFile::MappedFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw Error("cannot open package").file(path).hint("check the path");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size <= 0) {
    ::close(fd);
    throw Error("package is empty or unreadable").file(path);
  }
  size = static_cast<size_t>(st.st_size);
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) throw Error("cannot memory-map package").file(path);
  data = static_cast<const uint8_t*>(map);
}

MappedFile::~MappedFile() { ::munmap(const_cast<uint8_t*>(data), size); }

int64_t package_numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0 || (d > 0 && n > (int64_t{1} << 40) / d)) return -1;
    n *= d;
  }
  return n;
}

namespace {

formats::Grid grid_from_json(const nlohmann::json& j, const PackageReader& r, const std::string& weight, bool read) {
  const std::string kind = j.at("kind").get<std::string>();
  const auto bits = [&] { return static_cast<int>(r.integer(j.at("bits"), "grid bits of '" + weight + "'")); };
  formats::Grid g;
  if (kind == "uniform") {
    g = formats::Grid::uniform(bits(), j.at("symmetric").get<bool>(), j.at("signed").get<bool>());
  } else if (kind == "power") {
    g = formats::Grid::power(bits(), j.at("exponent").get<double>());
  } else if (kind == "ternary") {
    g = formats::Grid::ternary();
  } else if (kind == "codebook") {
    if (!read) {
      const auto [o, n] = r.blob_range(j.at("table"));
      (void)o;
      if (n % 4 != 0 || n == 0) r.fail("codebook table has a size that is not a whole number of floats");
      // A placeholder table of the stored size: enough for the size checks of a lazy reader.
      g = formats::Grid::codebook(at::arange(static_cast<int64_t>(n / 4), at::kFloat));
    } else {
      auto [p, n] = r.blob(j.at("table"));
      if (n % 4 != 0 || n == 0) r.fail("codebook table has a size that is not a whole number of floats");
      at::Tensor t = at::empty({static_cast<int64_t>(n / 4)}, at::kFloat);
      std::memcpy(t.data_ptr(), p, n);
      g = formats::Grid::codebook(t);
    }
  } else {
    r.fail("unknown grid kind '" + kind + "'", "this package may come from a newer pare");
  }
  g.validate("package grid");
  return g;
}

// Parses `e` into `q` (grid, granularity, shape, axis, scale bits) and checks every blob's size; reads the
// blobs' contents only when `read`.
void parse_entry(const nlohmann::json& e, const PackageReader& r, const std::string& w, bool read,
                 formats::QuantizedTensor& q) {
  try {
    q.grid = grid_from_json(e.at("grid"), r, w, read);
    q.granularity = formats::Granularity::parse(e.at("granularity").get<std::string>());
    q.shape = r.integers(e.at("shape"), "shape of '" + w + "'");
    q.out_axis = r.integer(e.at("out_axis"), "out_axis of '" + w + "'");
    q.scale_bits = static_cast<int>(r.integer(e.at("scale_bits"), "scale_bits of '" + w + "'"));
    const int64_t numel = package_numel(q.shape);
    if (numel <= 0 || q.shape.size() > 8) r.fail("quantized weight '" + w + "' has a bad shape");
    if (q.shape.size() > 1 && (q.out_axis < 0 || q.out_axis >= static_cast<int64_t>(q.shape.size())))
      r.fail("quantized weight '" + w + "' has a bad output axis");
    if (q.scale_bits != 16 && q.scale_bits != 32) r.fail("scale_bits must be 16 or 32");
    const int64_t o = q.shape.size() <= 1 ? numel : q.shape[q.out_axis], red = numel / o;
    const std::vector<int64_t> sshape = formats::scale_shape(o, red, q.granularity);
    if (r.integers(e.at("scales_shape"), "scales_shape of '" + w + "'") != sshape)
      r.fail("scales of '" + w + "' do not match its granularity");
    const int64_t scount = package_numel(sshape);
    if (static_cast<int64_t>(r.blob_range(e.at("codes")).second) != formats::packed_bytes(numel, q.grid.bits))
      r.fail("codes of '" + w + "' have the wrong size");
    if (static_cast<int64_t>(r.blob_range(e.at("scales")).second) != scount * (q.scale_bits / 8))
      r.fail("scales of '" + w + "' have the wrong size");
    if (!e.at("zero_points").is_null()) {
      if (!q.grid.has_zero_point()) r.fail("zero points stored for a grid without them");
      if (static_cast<int64_t>(r.blob_range(e.at("zero_points")).second) != scount * 2)
        r.fail("zero points of '" + w + "' have the wrong size");
    } else if (q.grid.has_zero_point()) {
      r.fail("zero points missing for '" + w + "'");
    }
    if (!read) return;
    auto [cp, cn] = r.blob(e.at("codes"));
    (void)cn;
    q.codes = (formats::unpack_bits(cp, numel, q.grid.bits) + static_cast<int16_t>(q.grid.qmin())).reshape({o, red});
    if ((q.codes > q.grid.qmax()).any().item<bool>()) r.fail("codes of '" + w + "' are out of range");
    auto [sp, sn] = r.blob(e.at("scales"));
    at::Tensor s = at::empty(sshape, q.scale_bits == 16 ? at::kHalf : at::kFloat);
    std::memcpy(s.data_ptr(), sp, sn);
    q.scales = s.to(at::kFloat);
    if (!at::isfinite(q.scales).all().item<bool>() || (q.scales < 0).any().item<bool>())
      r.fail("scales of '" + w + "' are negative, NaN or Inf");
    if (!e.at("zero_points").is_null()) {
      auto [zp, zn] = r.blob(e.at("zero_points"));
      at::Tensor z = at::empty(sshape, at::kShort);
      std::memcpy(z.data_ptr(), zp, zn);
      q.zero_points = z;
    }
  } catch (const nlohmann::json::exception& ex) {
    r.fail("malformed package header (entry of '" + w + "'): " + ex.what());
  }
}

// Residual-expansion terms of entry `e` (formats/quantized_weight.h): each an [k, R] matrix over k ascending
// rows of the parent's O, with no terms of its own.
void parse_terms(const nlohmann::json& e, const PackageReader& r, const std::string& w, bool read,
                 formats::QuantizedWeight& q) {
  try {
    if (!e.contains("terms")) return;
    if (!e.at("terms").is_array()) r.fail("expansion terms of '" + w + "' are malformed");
    const int64_t numel = package_numel(q.main.shape);
    const int64_t o = q.main.shape.size() <= 1 ? numel : q.main.shape[q.main.out_axis], red = numel / o;
    for (const auto& te : e.at("terms")) {
      const std::string tw = w + " (term " + std::to_string(q.terms.size() + 2) + ")";
      formats::ResidualTerm term;
      formats::QuantizedTensor& t = term.q;
      parse_entry(te, r, tw, read, t);
      if (te.contains("terms")) r.fail("expansion terms of '" + tw + "' are malformed");
      if (t.shape.size() != 2 || t.out_axis != 0 || t.shape[1] != red || t.shape[0] > o)
        r.fail("expansion term of '" + w + "' does not match the weight's shape");
      const int64_t k = t.shape[0];
      if (te.at("rows").is_null()) {
        if (k != o) r.fail("expansion term of '" + w + "' covers some rows but does not list them");
      } else {
        if (static_cast<int64_t>(r.blob_range(te.at("rows")).second) != k * 4)
          r.fail("row list of '" + tw + "' has the wrong size");
        if (read) {
          auto [p, n] = r.blob(te.at("rows"));
          at::Tensor rows = at::empty({k}, at::kInt);
          std::memcpy(rows.data_ptr(), p, n);
          rows = rows.to(at::kLong);
          const bool ascending = k < 2 || (rows.slice(0, 1) > rows.slice(0, 0, -1)).all().item<bool>();
          if (!ascending || (rows < 0).any().item<bool>() || (rows >= o).any().item<bool>())
            r.fail("row list of '" + tw + "' is not ascending within the weight's rows");
          term.rows = rows;
        }
      }
      q.terms.push_back(std::move(term));
    }
  } catch (const nlohmann::json::exception& ex) {
    r.fail("malformed package header (entry of '" + w + "'): " + ex.what());
  }
}

}  // namespace

formats::QuantizedWeight read_quantized_entry(const nlohmann::json& e, const PackageReader& r,
                                              const std::string& what) {
  formats::QuantizedWeight q;
  parse_entry(e, r, what, true, q.main);
  parse_terms(e, r, what, true, q);
  return q;
}

void check_quantized_entry(const nlohmann::json& e, const PackageReader& r, const std::string& what) {
  formats::QuantizedWeight q;
  parse_entry(e, r, what, false, q.main);
  parse_terms(e, r, what, false, q);
}

}  // namespace pare::io
