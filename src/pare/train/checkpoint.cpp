#include "pare/train/checkpoint.h"

#include <cstring>
#include <fstream>

#include "pare/error.h"
#include "pare/io/atomic_file.h"

namespace pare::train {

namespace {
constexpr char kMagic[8] = {'P', 'A', 'R', 'E', 'C', 'K', 'P', 'T'};
constexpr uint32_t kVersion = 1;

uint64_t fnv1a(uint64_t h, const std::string& s) {
  for (unsigned char c : s) h = (h ^ c) * 0x100000001B3ull;
  return (h ^ 0xFF) * 0x100000001B3ull;  // separator, so ("ab","c") != ("a","bc")
}

std::string dtype_name(at::ScalarType t) { return c10::toString(t); }

at::ScalarType dtype_from_name(const std::string& s, const std::string& path) {
  for (auto t : {at::kFloat, at::kDouble, at::kHalf, at::kBFloat16, at::kLong, at::kInt, at::kByte, at::kChar})
    if (dtype_name(t) == s) return t;
  throw Error("checkpoint holds a tensor of unknown type '" + s + "'").file(path);
}
}  // namespace

std::string graph_fingerprint(const ir::Graph& g) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (const auto& n : g.nodes) {
    h = fnv1a(h, n.domain + "::" + n.op_type);
    for (const auto& v : n.inputs) h = fnv1a(h, v);
    for (const auto& v : n.outputs) h = fnv1a(h, v);
  }
  for (const auto& [name, t] : g.initializers) {
    h = fnv1a(h, name);
    h = fnv1a(h, dtype_name(t.scalar_type()) + ir::shape_string(t.sizes()));
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

void save_checkpoint(const std::string& path, const Checkpoint& c) {
  nlohmann::json header;
  header["fingerprint"] = c.fingerprint;
  header["epochs_done"] = c.epochs_done;
  header["steps_done"] = c.steps_done;
  header["info"] = c.info;
  std::vector<at::Tensor> blobs;
  uint64_t offset = 0;
  for (auto* group : {&c.weights, &c.optimizer}) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& [name, t] : *group) {
      at::Tensor d = t.detach().contiguous();
      const uint64_t bytes = static_cast<uint64_t>(d.numel()) * d.element_size();
      list.push_back({{"name", name},
                      {"dtype", dtype_name(d.scalar_type())},
                      {"shape", d.sizes().vec()},
                      {"offset", offset},
                      {"bytes", bytes}});
      offset += bytes;
      blobs.push_back(d);
    }
    header[group == &c.weights ? "weights" : "optimizer"] = list;
  }
  const std::string text = header.dump();
  io::write_atomic(path, [&](std::ostream& out) {
    const uint64_t n = text.size();
    out.write(kMagic, 8);
    out.write(reinterpret_cast<const char*>(&kVersion), 4);
    out.write(reinterpret_cast<const char*>(&n), 8);
    out.write(text.data(), static_cast<std::streamsize>(n));
    for (const auto& b : blobs)
      out.write(static_cast<const char*>(b.data_ptr()), static_cast<std::streamsize>(b.numel() * b.element_size()));
  });
}

Checkpoint load_checkpoint(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open checkpoint").file(path).hint("check the path, or drop --resume to start afresh");
  in.seekg(0, std::ios::end);
  const uint64_t size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  const auto corrupt = [&](const std::string& what) {
    return Error("checkpoint is not a pare training checkpoint or is damaged: " + what)
        .file(path)
        .hint("delete it and train from the start, or point --checkpoint at the right file");
  };
  char magic[8];
  uint32_t version = 0;
  uint64_t n = 0;
  if (size < 20 || !in.read(magic, 8) || std::memcmp(magic, kMagic, 8) != 0) throw corrupt("bad magic");
  in.read(reinterpret_cast<char*>(&version), 4);
  in.read(reinterpret_cast<char*>(&n), 8);
  if (version != kVersion) throw corrupt("version " + std::to_string(version) + ", this pare reads 1");
  if (n > size - 20) throw corrupt("header runs past the end of the file");
  std::string text(n, '\0');
  in.read(text.data(), static_cast<std::streamsize>(n));
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    throw corrupt(std::string("header is not JSON (") + e.what() + ")");
  }
  const uint64_t data_start = 20 + n;
  Checkpoint c;
  try {
    c.fingerprint = header.at("fingerprint").get<std::string>();
    c.epochs_done = header.at("epochs_done").get<int64_t>();
    c.steps_done = header.at("steps_done").get<int64_t>();
    c.info = header.value("info", nlohmann::json::object());
    for (const char* group : {"weights", "optimizer"}) {
      for (const auto& e : header.at(group)) {
        const std::string name = e.at("name").get<std::string>();
        const at::ScalarType dt = dtype_from_name(e.at("dtype").get<std::string>(), path);
        const auto shape = e.at("shape").get<std::vector<int64_t>>();
        const uint64_t off = e.at("offset").get<uint64_t>(), bytes = e.at("bytes").get<uint64_t>();
        uint64_t numel = 1;
        for (int64_t d : shape) {
          if (d < 0 || (d > 0 && numel > (uint64_t{1} << 40) / static_cast<uint64_t>(d)))
            throw corrupt("tensor '" + name + "' has a bad shape");
          numel *= static_cast<uint64_t>(d);
        }
        if (numel * c10::elementSize(dt) != bytes || off > size - data_start || bytes > size - data_start - off)
          throw corrupt("tensor '" + name + "' does not fit in the file");
        at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dt));
        in.seekg(static_cast<std::streamoff>(data_start + off));
        if (!in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(bytes)))
          throw corrupt("tensor '" + name + "' is truncated");
        (std::string(group) == "weights" ? c.weights : c.optimizer)[name] = t;
      }
    }
  } catch (const nlohmann::json::exception& e) {
    throw corrupt(std::string("header lacks a field (") + e.what() + ")");
  }
  return c;
}

void restore_weights(ir::Graph& graph, const Checkpoint& c, const std::string& path) {
  const std::string fp = graph_fingerprint(graph);
  if (fp != c.fingerprint) {
    // Name the first concrete difference, so the user sees which model the checkpoint belongs to.
    std::string detail = "the graph structure differs";
    for (const auto& [name, t] : graph.initializers) {
      auto it = c.weights.find(name);
      if (t.is_floating_point() && it == c.weights.end()) {
        detail = "the checkpoint has no tensor '" + name + "'";
        break;
      }
      if (it != c.weights.end() && !it->second.sizes().equals(t.sizes())) {
        detail = "tensor '" + name + "' is " + ir::shape_string(it->second.sizes()) + " in the checkpoint but " +
                 ir::shape_string(t.sizes()) + " in the model";
        break;
      }
    }
    throw Error("checkpoint was made from another model: " + detail)
        .file(path)
        .expected("fingerprint " + fp)
        .got("fingerprint " + c.fingerprint)
        .hint("resume with the model the checkpoint was started from, or train afresh without --resume");
  }
  at::NoGradGuard guard;
  for (auto& [name, t] : graph.initializers) {
    auto it = c.weights.find(name);
    if (it != c.weights.end()) t.copy_(it->second);
  }
}

}  // namespace pare::train
