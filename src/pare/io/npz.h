// .npz reader: the zip archive numpy.savez / numpy.savez_compressed write, one .npy member per array.
// The zip central directory is parsed here; members may be stored or deflate-compressed (raw inflate via zlib).
// Every offset and size is checked against the file; zip64, encryption, multi-disk archives and other
// compression methods are refused with an Error naming the file (and member).
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace pare::io {

class NpzArchive {
 public:
  // Reads the whole file and its central directory (members are decoded on demand by array()).
  static NpzArchive open(const std::string& path);
  // `context` names the archive in messages (a path, or a test label).
  static NpzArchive from_bytes(std::string bytes, const std::string& context);

  // Array names in archive order: member names without the ".npy" suffix ("inputs" for "inputs.npy").
  std::vector<std::string> names() const;
  bool contains(const std::string& name) const;
  // Inflates (if needed), checks the CRC-32 and parses the member as NPY. Throws Error for a missing name.
  at::Tensor array(const std::string& name) const;
  const std::string& context() const { return context_; }

 private:
  struct Member {
    std::string name;  // as stored, e.g. "inputs.npy"
    uint16_t method = 0;
    uint32_t crc = 0;
    uint64_t data_offset = 0;
    uint32_t compressed_size = 0, size = 0;
  };
  const Member* find(const std::string& name) const;
  std::string bytes_, context_;
  std::vector<Member> members_;
};

// Every array of the archive, by name (see NpzArchive::names).
std::map<std::string, at::Tensor> load_npz(const std::string& path);
std::map<std::string, at::Tensor> npz_from_bytes(const std::string& bytes, const std::string& context);

}  // namespace pare::io
