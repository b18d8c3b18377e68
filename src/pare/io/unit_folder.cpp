#include "pare/io/unit_folder.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "pare/error.h"
#include "pare/io/atomic_file.h"
#include "pare/io/json_file.h"

namespace pare::io {
namespace fs = std::filesystem;

namespace {

// What differs between the folder's job and this run's, as "path: folder X, now Y" (JSON pointer paths).
std::string settings_differences(const nlohmann::json& folder, const nlohmann::json& now) {
  if (!folder.is_object()) return "a folder without a readable job.json";
  std::string out;
  int shown = 0;
  nlohmann::json patch = nlohmann::json::diff(folder, now);
  // Shallow differences first: a changed version or source says more than the recipe keys under it.
  auto depth = [](const nlohmann::json& op) {
    const std::string p = op.at("path").get<std::string>();
    return std::count(p.begin(), p.end(), '/');
  };
  std::stable_sort(patch.begin(), patch.end(),
                   [&](const nlohmann::json& a, const nlohmann::json& b) { return depth(a) < depth(b); });
  for (const auto& op : patch) {
    if (++shown > 6) {
      out += fmt::format("; and {} more", patch.size() - 6);
      break;
    }
    const std::string path = op.at("path").get<std::string>();
    const nlohmann::json was = folder.contains(nlohmann::json::json_pointer(path))
                                   ? folder.at(nlohmann::json::json_pointer(path))
                                   : nlohmann::json("(none)");
    const nlohmann::json is = op.contains("value") ? op.at("value") : nlohmann::json("(none)");
    out += fmt::format("{}{}: folder {}, now {}", out.empty() ? "" : "; ", path, was.dump(), is.dump());
  }
  return out;
}

}  // namespace

UnitFolder::UnitFolder(std::string dir, const nlohmann::json& job, int64_t units, const std::string& what)
    : dir_(std::move(dir)), units_(static_cast<size_t>(units)) {
  const std::string job_path = (fs::path(dir_) / "job.json").string();
  if (fs::exists(dir_)) {
    const nlohmann::json old = fs::exists(job_path) ? read_json_file(job_path, "work folder job", "") : nullptr;
    if (old != job)
      throw Error("the work folder holds an unfinished " + what + " with other settings")
          .file(dir_)
          .got(settings_differences(old, job))
          .hint("run again with the same model and settings to resume it, or delete the folder to start over");
  } else {
    std::error_code ec;
    fs::create_directories(dir_, ec);
    if (ec) throw Error("cannot create the work folder").file(dir_).got(ec.message());
    write_atomic(job_path, [&](std::ostream& out) { out << job.dump(2) << "\n"; });
    created_ = true;
  }
  for (int64_t k = 0; k < units; ++k) {
    const std::string js = path(k, "json"), bin = path(k, "bin");
    if (!fs::exists(js)) continue;
    try {  // a unit whose files do not agree is simply done again
      nlohmann::json u = read_json_file(js, "finished unit", "delete the work folder to start over");
      if (fs::exists(bin) && fs::file_size(bin) == u.at("bin_bytes").get<uint64_t>())
        units_[static_cast<size_t>(k)] = std::move(u);
    } catch (const std::exception&) {
    }
  }
}

int64_t UnitFolder::finished() const {
  int64_t n = 0;
  for (const auto& u : units_) n += u.is_null() ? 0 : 1;
  return n;
}

std::string UnitFolder::path(int64_t k, const char* ext) const {
  return (fs::path(dir_) / fmt::format("unit-{:04d}.{}", k, ext)).string();
}

void UnitFolder::write(int64_t k, nlohmann::json info, const std::vector<std::pair<std::string, std::string>>& blobs) {
  nlohmann::json table = nlohmann::json::array();
  uint64_t offset = 0;
  for (const auto& [name, bytes] : blobs) {
    table.push_back({{"name", name},
                     {"offset", offset},
                     {"bytes", bytes.size()},
                     {"crc32", package_crc(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size())}});
    offset += bytes.size();
  }
  write_atomic(path(k, "bin"), [&](std::ostream& out) {
    for (const auto& b : blobs) out.write(b.second.data(), static_cast<std::streamsize>(b.second.size()));
  });
  info["blobs"] = table;
  info["bin_bytes"] = offset;
  write_atomic(path(k, "json"), [&](std::ostream& out) { out << info.dump() << "\n"; });
  units_.at(static_cast<size_t>(k)) = std::move(info);
}

std::vector<BlobSource> UnitFolder::blob_sources(int64_t k) const {
  std::vector<BlobSource> out;
  const std::string bin = path(k, "bin");
  for (const auto& b : unit(k).at("blobs")) {
    BlobSource s;
    s.name = b.at("name").get<std::string>();
    s.bytes = b.at("bytes").get<uint64_t>();
    s.crc32 = b.at("crc32").get<uint32_t>();
    const uint64_t offset = b.at("offset").get<uint64_t>(), bytes = s.bytes;
    s.write = [bin, offset, bytes](std::ostream& os) {
      std::ifstream in(bin, std::ios::binary);
      in.seekg(static_cast<std::streamoff>(offset));
      std::vector<char> buf(std::min<uint64_t>(bytes, 4 << 20));
      for (uint64_t left = bytes; left > 0;) {
        const auto n = static_cast<std::streamsize>(std::min<uint64_t>(left, buf.size()));
        if (!in.read(buf.data(), n)) throw Error("cannot read a finished unit back").file(bin);
        os.write(buf.data(), n);
        left -= static_cast<uint64_t>(n);
      }
    };
    out.push_back(std::move(s));
  }
  return out;
}

void UnitFolder::remove() const {
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

}  // namespace pare::io
