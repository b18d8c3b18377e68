// Dataset spec parsing and the in-memory loaders behind it.
#include "pare/data/dataset.h"

#include <filesystem>

#include "pare/data/idx.h"
#include "pare/data/image_folder.h"
#include "pare/error.h"
#include "pare/io/npy.h"
#include "pare/io/npz.h"
#include "pare/tensor_text.h"

namespace pare::data {
namespace fs = std::filesystem;

namespace {
const char* kForms =
    "fmnist:train, fmnist:test, npy:DIR, npz:FILE.npz, folder:DIR (DIR/<class>/<image>.png|.jpg), each optionally "
    "with :COUNT[:SEED] (e.g. fmnist:train:512)";

bool all_digits(const std::string& s) {
  return !s.empty() && s.size() < 19 &&
         std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}
}  // namespace

DatasetSpec DatasetSpec::parse(const std::string& text) {
  DatasetSpec s;
  s.text = text;
  const auto colon = text.find(':');
  if (colon == std::string::npos || colon == 0) throw Error("dataset spec '" + text + "' has no kind").expected(kForms);
  s.kind = text.substr(0, colon);
  std::string rest = text.substr(colon + 1);
  // Trailing numeric fields are COUNT and SEED (folders may contain ':' but not end in ':<digits>' twice).
  std::vector<std::string> tail;
  for (int k = 0; k < 2; ++k) {
    const auto c = rest.rfind(':');
    if (c == std::string::npos || !all_digits(rest.substr(c + 1))) break;
    tail.insert(tail.begin(), rest.substr(c + 1));
    rest = rest.substr(0, c);
  }
  s.arg = rest;
  if (!tail.empty()) s.count = std::stoll(tail[0]);
  if (tail.size() > 1) s.seed = std::stoull(tail[1]);
  if (s.count && *s.count <= 0) throw Error("dataset spec '" + text + "': COUNT must be positive").expected(kForms);
  if (s.kind == "fmnist") {
    if (s.arg != "train" && s.arg != "test")
      throw Error("dataset spec '" + text + "': Fashion-MNIST has the splits train and test").expected(kForms);
  } else if (s.kind == "npy" || s.kind == "folder") {
    if (s.arg.empty()) throw Error("dataset spec '" + text + "' names no folder").expected(kForms);
  } else if (s.kind == "npz") {
    if (s.arg.empty()) throw Error("dataset spec '" + text + "' names no file").expected(kForms);
  } else {
    throw Error("unknown dataset kind '" + s.kind + "' in '" + text + "'").expected(kForms);
  }
  return s;
}

Dataset random_subset(const Dataset& d, int64_t count, uint64_t seed) {
  if (count >= d.size()) return d;
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  at::Tensor idx = at::randperm(d.size(), gen, at::kLong).narrow(0, 0, count);
  Dataset out = d;
  out.inputs = d.inputs.index_select(0, idx);
  if (d.labels.defined()) out.labels = d.labels.index_select(0, idx);
  out.name = d.name + " (" + std::to_string(count) + " samples, seed " + std::to_string(seed) + ")";
  return out;
}

static Dataset load_fmnist(const std::string& split, const DataPaths& paths) {
  const std::string prefix = paths.fmnist_dir + "/" + (split == "train" ? "train" : "t10k");
  at::Tensor images = load_idx(prefix + "-images-idx3-ubyte.gz");
  at::Tensor labels = load_idx(prefix + "-labels-idx1-ubyte.gz");
  if (images.dim() != 3 || labels.dim() != 1 || images.size(0) != labels.size(0))
    throw Error("Fashion-MNIST images and labels do not match")
        .file(prefix + "-images-idx3-ubyte.gz")
        .expected("[N, 28, 28] images and [N] labels")
        .got(shape_string(images.sizes()) + " and " + shape_string(labels.sizes()));
  Dataset d;
  d.name = "fmnist:" + split;
  d.inputs = images.unsqueeze(1).to(at::kFloat).div_(255.0);  // [N, 1, 28, 28] in [0, 1]
  d.labels = labels.to(at::kLong);
  d.num_classes = 10;
  return d;
}

// Labels read from `where` for `inputs`: [N] integers >= 0, returned as int64.
static at::Tensor checked_labels(at::Tensor labels, const at::Tensor& inputs, const std::string& where,
                                 const std::string& what) {
  if (labels.dim() != 1 || labels.size(0) != inputs.size(0) || at::isFloatingType(labels.scalar_type()) ||
      labels.scalar_type() == at::kBool)
    throw Error(what + " does not match the inputs")
        .file(where)
        .expected("integer labels of shape [" + std::to_string(inputs.size(0)) + "]")
        .got(scalar_type_name(labels.scalar_type()) + shape_string(labels.sizes()))
        .hint("one integer class index per sample, e.g. labels.astype('int64')");
  labels = labels.to(at::kLong);
  if (labels.numel() && labels.min().item<int64_t>() < 0)
    throw Error(what + " holds a negative label").file(where).expected("class indices 0, 1, 2, ...");
  return labels;
}

static Dataset load_npy_folder(const std::string& dir) {
  const fs::path in = fs::path(dir) / "inputs.npy", lab = fs::path(dir) / "labels.npy";
  std::error_code ec;
  if (fs::is_regular_file(dir, ec))
    throw Error("npy: takes a folder holding inputs.npy (and labels.npy), not a file")
        .file(dir)
        .hint("put the file in a folder as inputs.npy [N, ...] (labels.npy [N] for labels) and pass npy:FOLDER");
  if (!fs::exists(dir, ec)) throw Error("dataset folder does not exist").file(dir).hint("check the npy:FOLDER path");
  if (!fs::exists(in))
    throw Error("dataset folder has no inputs.npy")
        .file(dir)
        .hint("save the stacked samples as DIR/inputs.npy [N, ...]");
  Dataset d;
  d.name = "npy:" + dir;
  d.inputs = io::load_npy(in.string());
  if (d.inputs.dim() < 1) throw Error("inputs.npy must have a sample dimension").file(in.string());
  if (!at::isFloatingType(d.inputs.scalar_type())) d.inputs = d.inputs.to(at::kFloat);
  if (fs::exists(lab)) {
    d.labels = checked_labels(io::load_npy(lab.string()), d.inputs, lab.string(), "labels.npy");
    d.num_classes = d.labels.numel() ? d.labels.max().item<int64_t>() + 1 : 0;
  }
  return d;
}

static Dataset load_npz_file(const std::string& path) {
  const io::NpzArchive a = io::NpzArchive::open(path);
  const std::string in_name = a.contains("inputs") ? "inputs" : a.contains("x") ? "x" : "";
  if (in_name.empty()) {
    std::string have;
    for (const std::string& n : a.names()) have += (have.empty() ? "" : ", ") + n;
    throw Error("NPZ dataset has no array 'inputs' (or 'x')")
        .file(path)
        .expected("arrays inputs [N, ...] and optional labels [N]")
        .got(have.empty() ? "an archive without arrays" : "arrays " + have)
        .hint("numpy.savez(path, inputs=x, labels=y)");
  }
  Dataset d;
  d.name = "npz:" + path;
  d.inputs = a.array(in_name);
  const std::string in_where = path + ", member '" + in_name + ".npy'";
  if (d.inputs.dim() < 1)
    throw Error("NPZ inputs must have a sample dimension").file(in_where).expected("an array [N, ...]").got("a scalar");
  if (d.inputs.scalar_type() != at::kFloat) d.inputs = d.inputs.to(at::kFloat);
  const std::string lab_name = a.contains("labels") ? "labels" : a.contains("y") ? "y" : "";
  if (!lab_name.empty()) {
    d.labels = checked_labels(a.array(lab_name), d.inputs, path + ", member '" + lab_name + ".npy'",
                              "NPZ array '" + lab_name + "'");
    d.num_classes = d.labels.numel() ? d.labels.max().item<int64_t>() + 1 : 0;
  }
  return d;
}

Dataset load_dataset(const DatasetSpec& spec, const DataPaths& paths, const ImageTransform& transform) {
  Dataset d;
  if (spec.kind == "fmnist")
    d = load_fmnist(spec.arg, paths);
  else if (spec.kind == "npz")
    d = load_npz_file(spec.arg);
  else if (spec.kind == "folder")
    d = load_image_folder(spec.arg, transform);
  else
    d = load_npy_folder(spec.arg);
  if (spec.count) d = random_subset(d, *spec.count, spec.seed);
  return d;
}

}  // namespace pare::data
