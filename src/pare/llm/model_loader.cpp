#include "pare/llm/model_loader.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <memory>

#include "pare/error.h"
#include "pare/io/atomic_file.h"
#include "pare/io/gguf.h"
#include "pare/io/pare_package.h"
#include "pare/io/safetensors.h"
#include "pare/llm/gguf_llama.h"
#include "pare/llm/llama_package.h"

namespace pare::llm {
namespace fs = std::filesystem;

void check_llama_shapes(const LlamaConfig& c, const std::string& source,
                        const std::function<std::vector<int64_t>(const std::string&)>& shape_of) {
  for (const auto& t : llama_tensors(c)) {
    const std::vector<int64_t> got = shape_of(t.name);
    if (got.empty())
      throw Error("the model lacks a tensor its config needs")
          .file(source)
          .tensor(t.name)
          .hint("is the folder complete (every shard present) and is config.json the model's own?");
    if (got != t.shape)
      throw Error("tensor shape does not match config.json")
          .file(source)
          .tensor(t.name)
          .expected(ir::shape_string(t.shape))
          .got(ir::shape_string(got))
          .hint(fmt::format("config: hidden_size {}, intermediate_size {}, heads {} (kv {}), vocab {}", c.hidden_size,
                            c.intermediate_size, c.num_heads, c.num_kv_heads, c.vocab_size));
  }
}

namespace {

LlamaModel load_hf_folder(const std::string& dir) {
  const std::string config_path = (fs::path(dir) / "config.json").string();
  if (!fs::exists(config_path))
    throw Error("the model folder has no config.json").file(dir).hint("a Hugging Face Llama folder holds config.json");
  LlamaModel m;
  m.config = LlamaConfig::load(config_path);
  m.source = dir;
  m.format = "safetensors";
  auto st = std::make_shared<io::SafetensorsModel>(io::SafetensorsModel::open(dir));
  check_llama_shapes(m.config, dir, [&](const std::string& name) {
    return st->has(name) ? st->entry(name).shape : std::vector<int64_t>{};
  });
  for (const auto& t : llama_tensors(m.config)) {
    const std::string& dt = st->entry(t.name).dtype;
    if (dt != "F32" && dt != "F16" && dt != "BF16")
      throw Error("unsupported weight dtype").file(dir).tensor(t.name).expected("F32, F16 or BF16").got(dt);
  }
  m.weights = [st](const std::string& name) -> at::Tensor { return st->has(name) ? st->tensor(name) : at::Tensor(); };
  m.release = [st](const std::string& name) {
    if (st->has(name)) st->release(name);
  };
  return m;
}

}  // namespace

LlamaModel load_llama(const std::string& path) {
  if (!fs::exists(path)) throw Error("no such model file or folder").file(path);
  if (fs::is_directory(path)) return load_hf_folder(path);
  if (io::is_gguf(path)) return load_llama_gguf(path);
  if (io::is_package(path)) return load_llama_package(path);
  throw Error("not a Llama model pare can read")
      .file(path)
      .expected("a Hugging Face folder (config.json + *.safetensors), a .gguf file or a .pare package");
}

void save_llama_folder(const std::string& dir, const LlamaConfig& c,
                       const std::vector<std::pair<std::string, at::Tensor>>& weights, at::ScalarType dtype,
                       const std::optional<std::string>& tokenizer_model) {
  const std::string made = io::make_folders(dir);
  LlamaConfig out = c;
  out.torch_dtype = dtype == at::kHalf ? "float16" : dtype == at::kBFloat16 ? "bfloat16" : "float32";
  try {
    std::vector<std::pair<std::string, at::Tensor>> cast;
    cast.reserve(weights.size());
    for (const auto& [name, t] : weights) cast.emplace_back(name, t.to(dtype).contiguous());
    io::save_safetensors((fs::path(dir) / "model.safetensors").string(), cast, {{"format", "pt"}});
    io::write_atomic((fs::path(dir) / "config.json").string(),
                     [&](std::ostream& os) { os << out.to_json().dump(2) << "\n"; });
    if (tokenizer_model)
      io::write_atomic((fs::path(dir) / "tokenizer.model").string(), [&](std::ostream& os) {
        os.write(tokenizer_model->data(), static_cast<std::streamsize>(tokenizer_model->size()));
      });
  } catch (...) {
    std::error_code ec;
    if (!made.empty()) fs::remove_all(made, ec);
    throw;
  }
}

}  // namespace pare::llm
