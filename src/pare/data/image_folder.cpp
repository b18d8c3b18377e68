// Image folders: list, decode in parallel, transform, stack. The first failing image in folder order is the one
// reported (workers skip images after a known failure), so the message does not depend on thread timing.
#include "pare/data/image_folder.h"

#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <filesystem>

#include "pare/data/image_decode.h"
#include "pare/error.h"
#include "pare/tensor_text.h"

namespace pare::data {
namespace fs = std::filesystem;
namespace {

const char* kLayout = "DIR/<class>/<image>.png|.jpg|.jpeg, one subfolder per class (ImageNet layout)";

bool is_image_name(const std::string& name) {
  const auto dot = name.rfind('.');
  if (dot == std::string::npos || name[0] == '.') return false;
  std::string ext = name.substr(dot + 1);
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == "png" || ext == "jpg" || ext == "jpeg";
}

// Sorted entries of `dir` for which `keep(path)` holds; Error (naming `dir`) when it cannot be listed.
std::vector<fs::path> list_sorted(const fs::path& dir, const std::function<bool(const fs::path&)>& keep) {
  std::error_code ec;
  std::vector<fs::path> out;
  fs::directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec))
    if (keep(it->path())) out.push_back(it->path());
  if (ec) throw Error("cannot list folder: " + ec.message()).file(dir.string()).hint("check its permissions");
  std::sort(out.begin(), out.end(),
            [](const fs::path& a, const fs::path& b) { return a.filename().string() < b.filename().string(); });
  return out;
}

struct Resolved {
  int64_t height = 0, width = 0, resize = 0;
};

Resolved resolve(const ImageTransform& t) {
  auto bad = [](const std::string& what, const std::string& got) {
    return Error("invalid image transform: " + what).got(got);
  };
  if (t.channels != 0 && t.channels != 1 && t.channels != 3)
    throw bad("channels must be 1 (grayscale) or 3 (RGB)", std::to_string(t.channels));
  if (t.height < 0 || t.width < 0 || t.resize_shorter < 0)
    throw bad("sizes must not be negative",
              fmt::format("height {}, width {}, resize_shorter {}", t.height, t.width, t.resize_shorter));
  Resolved r;
  r.height = t.height ? t.height : t.width;
  r.width = t.width ? t.width : t.height;
  r.resize = t.resize_shorter;
  if (r.resize == 0 && r.height > 0) r.resize = std::lround(static_cast<double>(std::max(r.height, r.width)) / 0.875);
  return r;
}

}  // namespace

ImageFolderIndex index_image_folder(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec))
    throw Error("image folder does not exist").file(dir).expected(kLayout).hint("check the path after folder:");
  if (!fs::is_directory(dir, ec))
    throw Error("expected an image folder but got a file")
        .file(dir)
        .expected(kLayout)
        .hint("for a .npz archive use npz:FILE, for one image make a folder DIR/<class>/");
  ImageFolderIndex index;
  const auto class_dirs = list_sorted(dir, [](const fs::path& p) {
    std::error_code e;
    return p.filename().string()[0] != '.' && fs::is_directory(p, e);
  });
  if (class_dirs.empty()) {
    const auto loose = list_sorted(dir, [](const fs::path& p) { return is_image_name(p.filename().string()); });
    throw Error("image folder has no class subfolders")
        .file(dir)
        .expected(kLayout)
        .got(loose.empty() ? "an empty folder" : std::to_string(loose.size()) + " images directly in the folder")
        .hint(loose.empty() ? "check the path after folder:" : "move each image into DIR/<class name>/");
  }
  for (const fs::path& cdir : class_dirs) {
    const auto images = list_sorted(cdir, [](const fs::path& p) {
      std::error_code e;
      return is_image_name(p.filename().string()) && fs::is_regular_file(p, e);
    });
    if (images.empty())
      throw Error("class folder '" + cdir.filename().string() + "' holds no images")
          .file(cdir.string())
          .expected("files named *.png, *.jpg or *.jpeg in every class folder")
          .hint("add its images or remove the folder (every subfolder of " + dir + " is a class)");
    const int64_t label = static_cast<int64_t>(index.classes.size());
    index.classes.push_back(cdir.filename().string());
    for (const fs::path& p : images) {
      index.files.push_back(p.string());
      index.labels.push_back(label);
    }
  }
  return index;
}

at::Tensor transform_image(const at::Tensor& hwc, const ImageTransform& t, const std::string& context) {
  PARE_ASSERT(hwc.dim() == 3 && hwc.scalar_type() == at::kByte, "transform_image takes [H, W, C] uint8");
  const Resolved r = resolve(t);
  at::Tensor x = hwc.permute({2, 0, 1}).to(at::kFloat);  // [C, H, W], 0..255
  if (t.channels == 1 && x.size(0) == 3) {
    x = (x[0] * 0.299f + x[1] * 0.587f + x[2] * 0.114f).unsqueeze(0);
  } else if (t.channels == 3 && x.size(0) == 1) {
    x = x.expand({3, x.size(1), x.size(2)});
  }
  int64_t h = x.size(1), w = x.size(2);
  if (r.resize > 0) {
    // torchvision's Resize(int): the shorter side becomes `resize`, the longer one int(resize * long / short).
    const int64_t nh = h <= w ? r.resize : r.resize * h / w;
    const int64_t nw = h <= w ? r.resize * w / h : r.resize;
    if (nh < 1 || nw < 1)
      throw Error("image is too narrow to resize")
          .file(context)
          .got(fmt::format("{} x {} (W x H) to {} x {}", w, h, nw, nh));
    if (nh != h || nw != w)
      x = at::upsample_bilinear2d(x.unsqueeze(0).contiguous(), {nh, nw}, /*align_corners=*/false).squeeze(0);
    h = nh;
    w = nw;
  }
  if (r.height > 0) {
    if (h < r.height || w < r.width)
      throw Error("image is smaller than the crop")
          .file(context)
          .expected(fmt::format("at least {} x {} (W x H){}", r.width, r.height,
                                r.resize ? " after resizing the shorter side to " + std::to_string(r.resize) : ""))
          .got(fmt::format("{} x {}", w, h))
          .hint("resize the shorter side to at least the crop size");
    // torchvision's CenterCrop: int(round((size - crop) / 2)), with Python's round-half-to-even.
    const int64_t top = static_cast<int64_t>(std::nearbyint((h - r.height) / 2.0));
    const int64_t left = static_cast<int64_t>(std::nearbyint((w - r.width) / 2.0));
    x = x.narrow(1, top, r.height).narrow(2, left, r.width);
  }
  return x.div(255.0f).contiguous();
}

Dataset load_image_folder(const std::string& dir, const ImageTransform& t) {
  resolve(t);  // a bad transform is reported before any decoding
  const int64_t channels_override = t.channels;
  if (!t.mean.empty() || !t.std.empty()) {
    const size_t want = t.channels ? static_cast<size_t>(t.channels) : 0;
    auto ok = [&](const std::vector<float>& v) { return v.size() == 1 || (want ? v.size() == want : v.size() <= 3); };
    if (!ok(t.mean) || !ok(t.std) || (t.mean.empty() != t.std.empty()))
      throw Error("invalid image transform: mean and std need one value, or one per channel")
          .got(fmt::format("{} mean and {} std values for {} channels", t.mean.size(), t.std.size(),
                           t.channels ? std::to_string(t.channels) : "1 or 3"));
    for (float s : t.std)
      if (!(s > 0)) throw Error("invalid image transform: std must be positive").got(fmt::format("{}", s));
  }
  const ImageFolderIndex index = index_image_folder(dir);
  const int64_t n = static_cast<int64_t>(index.files.size());
  std::vector<at::Tensor> samples(n);
  std::vector<std::exception_ptr> errors(n);
  std::atomic<int64_t> first_failure{n};
  at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      if (i > first_failure.load()) return;
      try {
        samples[i] = transform_image(decode_image(index.files[i]), t, index.files[i]);
      } catch (...) {
        errors[i] = std::current_exception();
        int64_t seen = first_failure.load();
        while (i < seen && !first_failure.compare_exchange_weak(seen, i)) {
        }
      }
    }
  });
  if (first_failure.load() < n) std::rethrow_exception(errors[first_failure.load()]);
  int64_t channels = channels_override;
  if (channels == 0)
    for (const at::Tensor& s : samples) channels = std::max(channels, s.size(0));
  for (int64_t i = 0; i < n; ++i) {
    if (samples[i].size(0) != channels) samples[i] = samples[i].expand({channels, -1, -1});
    if (samples[i].sizes() != samples[0].sizes())
      throw Error("images have different sizes")
          .file(index.files[i])
          .expected(fmt::format("{} x {} (W x H) like {}", samples[0].size(2), samples[0].size(1), index.files[0]))
          .got(fmt::format("{} x {}", samples[i].size(2), samples[i].size(1)))
          .hint("give a crop size (pare eval uses the model's input height and width) or resize the images");
  }
  Dataset d;
  d.name = "folder:" + dir;
  d.inputs = at::stack(samples);
  samples.clear();
  if (!t.mean.empty()) {
    auto per_channel = [&](const std::vector<float>& v) {
      if (v.size() == 1) return at::full({1, 1, 1, 1}, v[0]);
      if (static_cast<int64_t>(v.size()) != channels)
        throw Error("invalid image transform: " + std::to_string(v.size()) + " mean/std values for " +
                    std::to_string(channels) + "-channel images")
            .file(dir)
            .expected("one value, or one per channel");
      return at::tensor(v).reshape({1, channels, 1, 1});
    };
    d.inputs.sub_(per_channel(t.mean)).div_(per_channel(t.std));
  }
  d.labels = at::tensor(index.labels, at::kLong);
  d.num_classes = static_cast<int64_t>(index.classes.size());
  return d;
}

}  // namespace pare::data
