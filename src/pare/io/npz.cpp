// NPZ = zip of .npy members. Layout used here (PKWARE APPNOTE 6.3): the end-of-central-directory record (EOCD)
// at the end of the file gives the central directory's offset and size; each central entry gives a member's
// method, CRC-32, sizes and the offset of its local header, whose name and extra fields precede the data.
// Sizes come from the central directory (local headers may hold 0 with a trailing data descriptor).
#include "pare/io/npz.h"

#include <fmt/format.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "pare/error.h"
#include "pare/io/npy.h"

namespace pare::io {
namespace {

constexpr uint32_t kEocdSig = 0x06054b50, kCentralSig = 0x02014b50, kLocalSig = 0x04034b50,
                   kZip64LocatorSig = 0x07064b50;
constexpr size_t kEocdSize = 22, kCentralSize = 46, kLocalSize = 30;
const char* kSaveHint = "write the archive with numpy.savez(path, inputs=x, labels=y) or numpy.savez_compressed";

uint16_t le16(const std::string& s, uint64_t at) {
  return static_cast<uint16_t>(static_cast<uint8_t>(s[at]) | (static_cast<uint8_t>(s[at + 1]) << 8));
}
uint32_t le32(const std::string& s, uint64_t at) {
  return static_cast<uint32_t>(le16(s, at)) | (static_cast<uint32_t>(le16(s, at + 2)) << 16);
}

Error truncated(const std::string& context, const std::string& what) {
  return Error("NPZ archive is truncated or damaged: " + what)
      .file(context)
      .expected("a complete zip archive as numpy.savez writes it")
      .hint("re-create or re-copy the file; " + std::string(kSaveHint));
}

std::string member_context(const std::string& context, const std::string& member) {
  return context + ", member '" + member + "'";
}

// Raw deflate (no zlib/gzip header) of exactly `size` output bytes. Zip sizes are 32-bit (zip64 is refused),
// so one inflate call with Z_FINISH sees all of the input and all of the output buffer.
std::string inflate_raw(const char* in, uint32_t in_size, uint32_t size, const std::string& context) {
  z_stream zs{};
  if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) throw Error("cannot initialize zlib").file(context);
  std::string out(size, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in));
  zs.avail_in = in_size;
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = size;
  const int ret = inflate(&zs, Z_FINISH);
  const uint64_t produced = zs.total_out;
  const bool input_left = zs.avail_in > 0;
  inflateEnd(&zs);
  if (ret == Z_STREAM_END && produced == size) return out;
  const std::string expected = std::to_string(size) + " bytes once inflated";
  if (ret == Z_STREAM_END)
    throw Error("compressed NPZ member inflates to fewer bytes than listed")
        .file(context)
        .expected(expected)
        .got(std::to_string(produced) + " bytes")
        .hint(kSaveHint);
  if (ret == Z_BUF_ERROR && produced == size && input_left)
    throw Error("compressed NPZ member inflates to more bytes than listed")
        .file(context)
        .expected(expected)
        .hint(kSaveHint);
  throw Error(ret == Z_DATA_ERROR ? "compressed NPZ member is corrupt (invalid deflate data)"
                                  : "compressed NPZ member is truncated (the deflate stream ends early)")
      .file(context)
      .expected(expected)
      .got(std::to_string(produced) + " bytes before the " + (ret == Z_DATA_ERROR ? "damage" : "end"))
      .hint("re-create or re-copy the file; " + std::string(kSaveHint));
}

std::string array_name(const std::string& member) {
  const std::string suffix = ".npy";
  if (member.size() > suffix.size() && member.compare(member.size() - suffix.size(), suffix.size(), suffix) == 0)
    return member.substr(0, member.size() - suffix.size());
  return member;
}

}  // namespace

NpzArchive NpzArchive::open(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    throw Error("NPZ file does not exist").file(path).hint("check the path; " + std::string(kSaveHint));
  if (std::filesystem::is_directory(path, ec))
    throw Error("expected an NPZ file but got a folder").file(path).hint("for a folder of .npy files use npy:DIR");
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot open NPZ file").file(path).hint("check its permissions");
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return from_bytes(std::move(bytes), path);
}

NpzArchive NpzArchive::from_bytes(std::string bytes, const std::string& context) {
  NpzArchive a;
  a.context_ = context;
  a.bytes_ = std::move(bytes);
  const std::string& b = a.bytes_;
  const uint64_t n = b.size();
  if (n == 0) throw Error("NPZ file is empty").file(context).expected("a zip archive").got("0 bytes").hint(kSaveHint);
  if (n < kEocdSize || (le32(b, 0) != kLocalSig && le32(b, 0) != kEocdSig))
    throw Error("not an NPZ file (no zip signature)")
        .file(context)
        .expected("a zip archive starting with 'PK\\x03\\x04'")
        .got(fmt::format("{} bytes starting with {:02x} {:02x} {:02x} {:02x}", n, static_cast<uint8_t>(b[0]),
                         n > 1 ? static_cast<uint8_t>(b[1]) : 0, n > 2 ? static_cast<uint8_t>(b[2]) : 0,
                         n > 3 ? static_cast<uint8_t>(b[3]) : 0))
        .hint(kSaveHint);
  // The EOCD is the last 22 bytes plus a comment of up to 65535 bytes: take the last signature whose comment
  // length reaches exactly the end of the file.
  uint64_t eocd = n;
  const uint64_t lowest = n >= kEocdSize + 0xffff ? n - kEocdSize - 0xffff : 0;
  for (uint64_t p = n - kEocdSize + 1; p-- > lowest;) {
    if (le32(b, p) == kEocdSig && p + kEocdSize + le16(b, p + 20) == n) {
      eocd = p;
      break;
    }
  }
  if (eocd == n) throw truncated(context, "no end-of-central-directory record at the end of the file");
  if (eocd >= 20 && le32(b, eocd - 20) == kZip64LocatorSig)
    throw Error("zip64 NPZ archives are not supported")
        .file(context)
        .expected("a zip archive under 4 GiB without zip64 records")
        .hint("save the arrays as .npy files in a folder and use npy:DIR");
  const uint16_t disk = le16(b, eocd + 4), cd_disk = le16(b, eocd + 6);
  const uint16_t entries_here = le16(b, eocd + 8), entries = le16(b, eocd + 10);
  const uint32_t cd_size = le32(b, eocd + 12), cd_offset = le32(b, eocd + 16);
  if (entries == 0xffff || cd_size == 0xffffffff || cd_offset == 0xffffffff)
    throw Error("zip64 NPZ archives are not supported")
        .file(context)
        .expected("a zip archive under 4 GiB without zip64 records")
        .hint("save the arrays as .npy files in a folder and use npy:DIR");
  if (disk != 0 || cd_disk != 0 || entries_here != entries)
    throw Error("multi-part (spanned) zip archives are not supported").file(context).hint(kSaveHint);
  if (uint64_t{cd_offset} + cd_size > eocd)
    throw truncated(context, fmt::format("the central directory (offset {}, {} bytes) lies beyond its end record "
                                         "at offset {}",
                                         cd_offset, cd_size, eocd));
  uint64_t p = cd_offset;
  const uint64_t cd_end = uint64_t{cd_offset} + cd_size;
  for (uint32_t i = 0; i < entries; ++i) {
    if (p + kCentralSize > cd_end || le32(b, p) != kCentralSig)
      throw truncated(context, fmt::format("central directory entry {} of {} is missing or damaged", i + 1, entries));
    Member m;
    const uint16_t flags = le16(b, p + 8);
    m.method = le16(b, p + 10);
    m.crc = le32(b, p + 16);
    const uint32_t csize = le32(b, p + 20), usize = le32(b, p + 24);
    const uint16_t name_len = le16(b, p + 28), extra_len = le16(b, p + 30), comment_len = le16(b, p + 32);
    const uint32_t local = le32(b, p + 42);
    const uint64_t next = p + kCentralSize + name_len + extra_len + comment_len;
    if (next > cd_end)
      throw truncated(context, fmt::format("central directory entry {} of {} runs past the directory", i + 1, entries));
    m.name = b.substr(p + kCentralSize, name_len);
    p = next;
    if (csize == 0xffffffff || usize == 0xffffffff || local == 0xffffffff)
      throw Error("zip64 NPZ members (over 4 GiB) are not supported")
          .file(member_context(context, m.name))
          .hint("save the arrays as .npy files in a folder and use npy:DIR");
    if (flags & 0x1)
      throw Error("encrypted NPZ members are not supported").file(member_context(context, m.name)).hint(kSaveHint);
    if (m.method != 0 && m.method != 8)
      throw Error("NPZ member uses an unsupported compression method")
          .file(member_context(context, m.name))
          .expected("0 (stored, numpy.savez) or 8 (deflate, numpy.savez_compressed)")
          .got("method " + std::to_string(m.method))
          .hint(kSaveHint);
    if (m.method == 0 && csize != usize)
      throw truncated(member_context(context, m.name),
                      fmt::format("a stored member of {} bytes is listed with {} stored bytes", usize, csize));
    // Deflate cannot expand more than ~1032:1; a larger claim is damage (or a decompression bomb).
    if (m.method == 8 && uint64_t{usize} > uint64_t{csize} * 1032 + 64)
      throw truncated(member_context(context, m.name),
                      fmt::format("{} compressed bytes cannot inflate to the {} bytes listed", csize, usize));
    if (uint64_t{local} + kLocalSize > cd_offset || le32(b, local) != kLocalSig)
      throw truncated(member_context(context, m.name),
                      fmt::format("its local header at offset {} is missing or damaged", local));
    m.data_offset = uint64_t{local} + kLocalSize + le16(b, local + 26) + le16(b, local + 28);
    m.compressed_size = csize;
    m.size = usize;
    if (m.data_offset + m.compressed_size > cd_offset)
      throw truncated(member_context(context, m.name),
                      fmt::format("its {} data bytes at offset {} run past the start of the central directory "
                                  "(offset {})",
                                  m.compressed_size, m.data_offset, cd_offset));
    for (const Member& other : a.members_)
      if (array_name(other.name) == array_name(m.name))
        throw Error("NPZ archive holds the array '" + array_name(m.name) + "' twice")
            .file(context)
            .expected("one member per array name")
            .hint(kSaveHint);
    a.members_.push_back(std::move(m));
  }
  if (p != cd_end)
    throw truncated(context,
                    fmt::format("the central directory has {} bytes beyond its {} entries", cd_end - p, entries));
  return a;
}

std::vector<std::string> NpzArchive::names() const {
  std::vector<std::string> out;
  for (const Member& m : members_) out.push_back(array_name(m.name));
  return out;
}

const NpzArchive::Member* NpzArchive::find(const std::string& name) const {
  for (const Member& m : members_)
    if (array_name(m.name) == name) return &m;
  return nullptr;
}

bool NpzArchive::contains(const std::string& name) const { return find(name) != nullptr; }

at::Tensor NpzArchive::array(const std::string& name) const {
  const Member* m = find(name);
  if (!m) {
    std::string have;
    for (const std::string& n : names()) have += (have.empty() ? "" : ", ") + n;
    throw Error("NPZ archive has no array '" + name + "'")
        .file(context_)
        .expected("a member " + name + ".npy")
        .got(have.empty() ? "no members" : "arrays " + have);
  }
  const std::string where = member_context(context_, m->name);
  std::string data = m->method == 0 ? bytes_.substr(m->data_offset, m->size)
                                    : inflate_raw(bytes_.data() + m->data_offset, m->compressed_size, m->size, where);
  const uint32_t crc =
      static_cast<uint32_t>(crc32_z(crc32_z(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(data.data()), data.size()));
  if (crc != m->crc)
    throw Error("NPZ member is damaged (CRC-32 mismatch)")
        .file(where)
        .expected(fmt::format("CRC-32 {:08x}", m->crc))
        .got(fmt::format("{:08x}", crc))
        .hint("re-create or re-copy the file");
  return npy_from_bytes(data, where);
}

std::map<std::string, at::Tensor> npz_from_bytes(const std::string& bytes, const std::string& context) {
  const NpzArchive a = NpzArchive::from_bytes(bytes, context);
  std::map<std::string, at::Tensor> out;
  for (const std::string& n : a.names()) out[n] = a.array(n);
  return out;
}

std::map<std::string, at::Tensor> load_npz(const std::string& path) {
  const NpzArchive a = NpzArchive::open(path);
  std::map<std::string, at::Tensor> out;
  for (const std::string& n : a.names()) out[n] = a.array(n);
  return out;
}

}  // namespace pare::io
