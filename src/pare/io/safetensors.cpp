// safetensors models: one file or a sharded folder, memory-mapped, with tensors as views of the mapping; and the
// writer. The checks of each header are in safetensors_header.cpp.
#include "pare/io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "pare/error.h"
#include "pare/io/atomic_file.h"
#include "pare/io/page_release.h"
#include "pare/io/safetensors_header.h"

// The buffer is mapped and viewed as is: the format is little-endian.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors data is little-endian");

namespace pare::io {
namespace fs = std::filesystem;

namespace {

const char kIndexName[] = "model.safetensors.index.json";
const char kSingleName[] = "model.safetensors";

std::string brief(const nlohmann::json& j) {
  std::string s = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return s.size() > 120 ? s.substr(0, 120) + "..." : s;
}

// weight_map of model.safetensors.index.json: tensor name -> shard file name, each checked to stay in the folder.
std::map<std::string, std::string> read_index(const std::string& index) {
  std::error_code ec;
  const auto bytes = fs::file_size(index, ec);
  if (ec || bytes > kSafetensorsMaxHeaderBytes)
    throw Error(ec ? "cannot read the shard index" : "shard index is implausibly large")
        .file(index)
        .hint("download model.safetensors.index.json again");
  std::ifstream in(index, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& ex) {
    throw Error("shard index is not valid JSON")
        .file(index)
        .got(ex.what())
        .hint("download model.safetensors.index.json again");
  }
  const auto map = j.is_object() ? j.find("weight_map") : j.end();
  if (!j.is_object() || map == j.end() || !map->is_object() || map->empty())
    throw Error("shard index has no 'weight_map' naming the shards")
        .file(index)
        .expected(R"({"weight_map": {"TENSOR": "model-00001-of-00002.safetensors", ...}})")
        .got(brief(j))
        .hint("download model.safetensors.index.json again");
  std::map<std::string, std::string> out;
  for (const auto& [name, shard] : map->items()) {
    if (!shard.is_string())
      throw Error("field 'weight_map' gives no shard file name for the tensor")
          .file(index)
          .tensor(name)
          .expected("a file name string")
          .got(brief(shard))
          .hint("download model.safetensors.index.json again");
    const std::string s = shard.get<std::string>();
    if (s.empty() || s == "." || s == ".." || s.find_first_of(std::string("/\\\0", 3)) != std::string::npos)
      throw Error("shard name in 'weight_map' leaves the model's folder")
          .file(index)
          .tensor(name)
          .expected("a file name beside the index")
          .got("'" + s + "'")
          .hint("shards must sit in the model's folder; pare does not follow paths out of it");
    out[name] = s;
  }
  return out;
}

}  // namespace

struct SafetensorsModel::Shard {
  std::string path;
  uint8_t* data = nullptr;  // the whole file
  size_t size = 0;
  void* map = nullptr;  // set when memory-mapped
  std::string bytes;    // the data when read from memory
  SafetensorsHeader header;

  Shard() = default;
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;
  ~Shard() {
    if (map) ::munmap(map, size);
  }
};

// MAP_PRIVATE with write permission: a view written in place gets private copies of its pages and the file never
// changes (read-only pages would make such a write crash instead).
std::shared_ptr<const SafetensorsModel::Shard> SafetensorsModel::map_shard(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw Error("cannot open safetensors file")
        .file(path)
        .got(std::strerror(errno))
        .hint("check the path and its permissions");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error("safetensors path is not a regular file").file(path).hint("name a .safetensors file or a model folder");
  }
  auto shard = std::make_shared<Shard>();
  shard->path = path;
  shard->size = static_cast<size_t>(st.st_size);
  if (shard->size > 0) {
    void* map = ::mmap(nullptr, shard->size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    const int err = errno;
    ::close(fd);
    if (map == MAP_FAILED)
      throw Error("cannot memory-map safetensors file")
          .file(path)
          .got(std::strerror(err))
          .hint("check free address space and the file system");
    shard->map = map;
    shard->data = static_cast<uint8_t*>(map);
  } else {
    ::close(fd);
  }
  shard->header = parse_safetensors_header(shard->data, shard->size, path);  // on error, ~Shard unmaps
  return shard;
}

void SafetensorsModel::add_shard(std::shared_ptr<const Shard> shard, const std::string& context) {
  for (const auto& e : shard->header.entries) {
    const auto [it, inserted] = entries_.emplace(e.name, Located{e, shards_.size()});
    if (!inserted)
      throw Error("tensor is stored in two shards")
          .file(context)
          .tensor(e.name)
          .expected("each tensor in exactly one shard")
          .got(it->second.entry.file + " and " + e.file)
          .hint("the shards come from different models or a broken conversion; download the folder again");
  }
  if (shards_.empty()) metadata_ = shard->header.metadata;
  shards_.push_back(std::move(shard));
}

SafetensorsModel SafetensorsModel::from_bytes(std::string bytes, const std::string& context) {
  auto shard = std::make_shared<Shard>();
  shard->path = context;
  shard->bytes = std::move(bytes);
  shard->data = reinterpret_cast<uint8_t*>(shard->bytes.data());
  shard->size = shard->bytes.size();
  shard->header = parse_safetensors_header(shard->data, shard->size, context);
  SafetensorsModel m;
  m.path_ = context;
  m.add_shard(std::move(shard), context);
  return m;
}

void SafetensorsModel::add_sharded(const std::string& index) {
  const fs::path dir = fs::path(index).parent_path();
  const std::map<std::string, std::string> weight_map = read_index(index);
  std::map<std::string, std::string> first_tensor;  // shard -> a tensor the index places there
  for (const auto& [name, shard] : weight_map) first_tensor.emplace(shard, name);
  std::error_code ec;
  for (const auto& [shard, name] : first_tensor) {  // shards in name order
    const std::string p = (dir / shard).string();
    if (!fs::exists(p, ec))
      throw Error("shard '" + shard + "' named by the index does not exist")
          .file(index)
          .tensor(name)
          .expected("the file " + p)
          .got("no such file")
          .hint("download every shard that model.safetensors.index.json lists");
    add_shard(map_shard(p), index);
  }
  for (const auto& [name, shard] : weight_map) {
    const std::string p = (dir / shard).string();
    const auto it = entries_.find(name);
    if (it == entries_.end() || it->second.entry.file != p)
      throw Error("the index places this tensor in shard '" + shard + "', which lacks it")
          .file(p)
          .tensor(name)
          .expected("'" + name + "' in " + shard + " (as " + index + " says)")
          .got(it == entries_.end() ? "no shard holds it" : "it is in " + it->second.entry.file)
          .hint("the index and the shards do not match; download the folder again");
  }
}

namespace {

// A folder without model.safetensors or an index: its one *.safetensors file (several are ambiguous).
std::string only_safetensors_file(const fs::path& dir) {
  std::error_code ec;
  std::vector<std::string> found;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().extension() == ".safetensors") found.push_back(it->path().filename().string());
  std::sort(found.begin(), found.end());
  if (found.size() == 1) return (dir / found[0]).string();
  std::string list;
  for (const auto& f : found) list += (list.empty() ? "" : ", ") + f;
  throw Error(found.empty() ? "folder holds no safetensors file"
                            : "folder holds several safetensors files but no " + std::string(kIndexName))
      .file(dir.string())
      .expected("model.safetensors, or shards listed by model.safetensors.index.json")
      .got(found.empty() ? "no *.safetensors file" : fmt::format("{} files: {}", found.size(), list))
      .hint(found.empty() ? "pass the folder of a Hugging Face model, or a .safetensors file"
                          : "download model.safetensors.index.json too, or pass one file");
}

}  // namespace

SafetensorsModel SafetensorsModel::open(const std::string& file_or_folder) {
  std::error_code ec;
  if (!fs::exists(file_or_folder, ec))
    throw Error("safetensors file or folder does not exist").file(file_or_folder).hint("check the path");
  SafetensorsModel m;
  m.path_ = file_or_folder;
  const fs::path given(file_or_folder);
  if (!fs::is_directory(given, ec)) {
    if (given.filename() == kIndexName)
      m.add_sharded(file_or_folder);
    else
      m.add_shard(map_shard(file_or_folder), file_or_folder);
    return m;
  }
  // In the order Hugging Face transformers looks: one file, then the index of shards.
  const std::string single = (given / kSingleName).string(), index = (given / kIndexName).string();
  if (fs::exists(single, ec)) {
    m.add_shard(map_shard(single), single);
  } else if (fs::exists(index, ec)) {
    m.add_sharded(index);
  } else {
    const std::string only = only_safetensors_file(given);
    m.add_shard(map_shard(only), only);
  }
  return m;
}

std::vector<std::string> SafetensorsModel::names() const {
  std::vector<std::string> out;
  for (const auto& kv : entries_) out.push_back(kv.first);
  return out;
}

bool SafetensorsModel::has(const std::string& name) const { return entries_.count(name) != 0; }

const SafetensorsEntry& SafetensorsModel::entry(const std::string& name) const {
  const auto it = entries_.find(name);
  if (it == entries_.end())
    throw Error("no such tensor in the safetensors model")
        .file(path_)
        .tensor(name)
        .got(fmt::format("{} tensors, none of that name", entries_.size()))
        .hint("`pare info " + path_ + "` lists the tensors");
  return it->second.entry;
}

void SafetensorsModel::release(const std::string& name) const {
  const SafetensorsEntry& e = entry(name);
  const std::shared_ptr<const Shard>& shard = shards_[entries_.at(name).shard];
  if (!shard->map) return;
  release_pages(reinterpret_cast<const uint8_t*>(shard->data) + shard->header.buffer + e.begin, e.end - e.begin);
}

at::Tensor SafetensorsModel::tensor(const std::string& name) const {
  const SafetensorsEntry& e = entry(name);
  const SafetensorsDType* type = find_safetensors_dtype(e.dtype);
  PARE_ASSERT(type, "an entry with an unchecked dtype");
  if (type->type == at::ScalarType::Undefined)
    throw Error("dtype " + e.dtype + " cannot be read: libtorch has no such type")
        .file(e.file)
        .tensor(name)
        .expected("one of " + safetensors_dtype_names(true))
        .got(e.dtype)
        .hint("convert the tensor in Python first, e.g. to F16, BF16 or F32");
  const std::shared_ptr<const Shard>& shard = shards_[entries_.at(name).shard];
  uint8_t* p = shard->data + shard->header.buffer + e.begin;
  const auto options = at::TensorOptions().dtype(type->type);
  if (e.end == e.begin) return at::empty(e.shape, options);
  // libtorch assumes a bool byte is 0 or 1; the file may hold any byte.
  if (type->type == at::kBool) return at::from_blob(p, e.shape, at::kByte).ne(0);
  // Kernels may assume element alignment; the spec does not promise it (pare's writer does).
  if (reinterpret_cast<uintptr_t>(p) % type->bytes != 0) {
    at::Tensor copy = at::empty(e.shape, options);
    std::memcpy(copy.data_ptr(), p, e.end - e.begin);
    return copy;
  }
  std::shared_ptr<const Shard> keep = shard;  // the view holds the mapping
  return at::from_blob(
      p, e.shape, [keep](void*) {}, options);
}

at::Tensor SafetensorsModel::tensor_f32(const std::string& name) const { return tensor(name).to(at::kFloat); }

std::vector<std::string> SafetensorsModel::files() const {
  std::vector<std::string> out;
  for (const auto& s : shards_) out.push_back(s->path);
  return out;
}

bool is_safetensors(const std::string& path) {
  std::error_code ec;
  const fs::path p(path);
  if (!fs::is_directory(p, ec)) return p.extension() == ".safetensors" || p.filename() == kIndexName;
  bool found = false;
  for (fs::directory_iterator it(p, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() == ".onnx") return false;
    found |= it->path().extension() == ".safetensors" || it->path().filename() == kIndexName;
  }
  return found;
}

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata,
                      const std::vector<std::string>& protected_inputs) {
  refuse_overwrite(path, protected_inputs);
  struct Item {
    std::string name;
    at::Tensor data;
    const SafetensorsDType* type;
  };
  std::vector<Item> items;
  std::set<std::string> seen;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__")
      throw Error("'__metadata__' is reserved in safetensors and cannot name a tensor")
          .file(path)
          .tensor(name)
          .hint("rename the tensor");
    if (!seen.insert(name).second)
      throw Error("tensor name given twice").file(path).tensor(name).hint("tensor names must be unique");
    if (!t.defined()) throw Error("tensor is undefined").file(path).tensor(name).hint("pass a tensor with data");
    const SafetensorsDType* type = find_safetensors_dtype(t.scalar_type());
    if (!type)
      throw Error(std::string("cannot store a ") + c10::toString(t.scalar_type()) + " tensor as safetensors")
          .file(path)
          .tensor(name)
          .expected("one of " + safetensors_dtype_names(true))
          .got(c10::toString(t.scalar_type()))
          .hint("convert it first, e.g. t.to(at::kFloat)");
    items.push_back({name, t.detach().cpu().contiguous(), type});
  }
  // Larger elements first: with a header padded to 8 bytes every tensor then starts aligned to its element size.
  std::stable_sort(items.begin(), items.end(),
                   [](const Item& a, const Item& b) { return a.type->bytes > b.type->bytes; });
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& it : items) {
    const uint64_t bytes = static_cast<uint64_t>(it.data.numel()) * it.type->bytes;
    header[it.name] = {{"dtype", it.type->name},
                       {"shape", it.data.sizes().vec()},
                       {"data_offsets", nlohmann::json::array({offset, offset + bytes})}};
    offset += bytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& ex) {
    throw Error("a tensor name or metadata string is not valid UTF-8")
        .file(path)
        .got(ex.what())
        .hint("safetensors headers are UTF-8 JSON; rename it");
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // the spec allows trailing spaces
  write_atomic(
      path,
      [&](std::ostream& out) {
        const uint64_t n = text.size();
        out.write(reinterpret_cast<const char*>(&n), 8);
        out.write(text.data(), static_cast<std::streamsize>(text.size()));
        for (const auto& it : items)
          if (it.data.numel() > 0)
            out.write(static_cast<const char*>(it.data.data_ptr()),
                      static_cast<std::streamsize>(it.data.numel() * it.type->bytes));
      },
      protected_inputs);
}

}  // namespace pare::io
