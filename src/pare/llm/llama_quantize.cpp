#include "pare/llm/llama_quantize.h"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <map>

#include "pare/error.h"
#include "pare/io/package_format.h"
#include "pare/io/unit_folder.h"
#include "pare/llm/llama_blocks.h"
#include "pare/quant/method.h"
#include "pare/quant/quantize_blocks.h"
#include "pare/quant/quantize_model.h"

namespace pare::llm {
namespace fs = std::filesystem;

namespace {

bool is_block_linear(const std::string& name) {
  const auto ends_with = [&](const std::string& s) {
    return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  return name.rfind("model.layers.", 0) == 0 && ends_with("_proj.weight");
}

// The float storage of a weight kept unquantized: float16 when that loses nothing, else float32.
std::pair<std::string, at::Tensor> float_storage(const at::Tensor& t) {
  if (t.scalar_type() != at::kFloat && t.scalar_type() != at::kDouble) {
    at::Tensor h = t.to(at::kHalf);
    if (at::equal(h.to(t.scalar_type()), t)) return {"F16", h.contiguous()};
  }
  return {"F32", t.to(at::kFloat).contiguous()};
}

std::string tensor_bytes(const at::Tensor& t) {
  return std::string(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
}

// Refusals that are about Llamas rather than one method: weights only, no first/last policy.
void check_llama_recipe(const quant::Recipe& r, const std::string& source) {
  quant::check_method_applies(r, quant::ModelKind::Llama, source);
  if (r.abits != 0)
    throw Error("Llama quantization is weights-only")
        .file(source)
        .got(fmt::format("--abits {}", r.abits))
        .hint("pass --abits 0 (or leave --abits out): activations stay float");
  if (r.first_last != "same")
    throw Error("first_last does not apply to Llama models")
        .file(source)
        .got(r.first_last)
        .hint(
            "embeddings and head stay float unless the recipe sets \"embeddings\": true; use layer rules "
            "(e.g. {\"match\": \"model\\\\.layers\\\\.0\\\\..*\", \"wbits\": 8}) for other layers");
}

// One finished block as a work-folder unit: header entries and blobs of every tensor it holds (quantized
// layers as quantized entries, the rest in float: as the method changed them, else the model's), and its
// report rows.
void write_unit(const LlamaModel& m, const std::vector<std::string>& names, std::vector<quant::QuantizedLayer>&& layers,
                const std::map<std::string, at::Tensor>& floats, io::UnitFolder& folder, int64_t k) {
  std::map<std::string, quant::QuantizedLayer> by_name;
  for (auto& l : layers) by_name[l.plan.layer.weight] = std::move(l);
  std::vector<std::pair<std::string, std::string>> blobs;
  nlohmann::json tensors = nlohmann::json::object(), quantized = nlohmann::json::array(),
                 rows = nlohmann::json::array();
  for (const auto& name : names) {
    auto it = by_name.find(name);
    if (it != by_name.end() && it->second.plan.quantize) {
      nlohmann::json e = io::quantized_entry(it->second.weight, name, blobs);
      e["weight"] = name;
      quantized.push_back(e);
      rows.push_back(it->second.to_json());
      continue;
    }
    const auto changed = floats.find(name);
    const at::Tensor t = changed != floats.end() ? changed->second : m.weights(name);
    auto [dtype, stored] = float_storage(t);
    blobs.emplace_back(name, tensor_bytes(stored));
    tensors[name] = {{"dtype", dtype}, {"shape", t.sizes().vec()}, {"data", name}};
    nlohmann::json row =
        it != by_name.end()
            ? it->second.to_json()
            : nlohmann::json{{"node", name}, {"weight", name}, {"quantized", false}, {"numel", t.numel()}};
    row["grid"] = dtype == "F16" ? "float16" : "float32";
    row["bits_per_weight"] = dtype == "F16" ? 16 : 32;
    row["bytes"] = stored.numel() * stored.element_size();
    rows.push_back(row);
  }
  folder.write(k, {{"tensors", tensors}, {"quantized", quantized}, {"rows", rows}}, blobs);
}

// The package from the finished units: header entries from every unit, blobs streamed from their files.
void assemble(const LlamaModel& m, const LlamaQuantizeOptions& o, const io::UnitFolder& folder, int64_t units) {
  nlohmann::json tensors = nlohmann::json::object(), quantized = nlohmann::json::array();
  std::vector<io::BlobSource> blobs;
  for (int64_t k = 0; k < units; ++k) {
    for (const auto& [name, e] : folder.unit(k).at("tensors").items()) tensors[name] = e;
    for (const auto& e : folder.unit(k).at("quantized")) quantized.push_back(e);
    for (auto& b : folder.blob_sources(k)) blobs.push_back(std::move(b));
  }
  nlohmann::json header{
      {"format", "pare"},       {"version", io::kPackageVersion}, {"producer", std::string("pare ") + PARE_VERSION},
      {"metadata", o.metadata}, {"llama", m.config.to_json()},    {"tokenizer", nullptr},
      {"tensors", tensors},     {"quantized", quantized}};
  header["metadata"]["recipe"] = o.recipe.to_json();
  if (o.tokenizer) {
    blobs.push_back(io::memory_blob("tokenizer.model", *o.tokenizer));
    header["tokenizer"] = "tokenizer.model";
  }
  io::write_package(o.out, header, blobs, o.protected_inputs);
}

// Report rows and totals from the units' rows.
void summarize(LlamaQuantizeResult& res, const io::UnitFolder& folder) {
  double qbits = 0, bops = 0, cost = 0;
  for (int64_t k = 0; k < res.units; ++k)
    for (const auto& row : folder.unit(k).at("rows")) {
      const int64_t n = row.at("numel").get<int64_t>();
      res.params += n;
      if (row.at("quantized").get<bool>()) {
        const double c = row.at("cost_factor").get<double>();
        res.quantized_params += n;
        qbits += row.at("bits_per_weight").get<double>() * static_cast<double>(n);
        bops += static_cast<double>(n) * row.at("wbits").get<int>() * c;
        cost += static_cast<double>(n) * c;
      }
      res.weights.push_back(row);
    }
  if (res.quantized_params) {
    const double q = static_cast<double>(res.quantized_params);
    res.quantized_bits_per_weight = qbits / q;
    res.relative_bops = bops / (8.0 * q);
    res.cost_factor = cost / q;
  }
}

}  // namespace

std::vector<quant::LayerPlan> plan_llama(const LlamaConfig& c, const quant::Recipe& recipe) {
  std::vector<quant::QuantizableLayer> found;
  for (const auto& t : llama_tensors(c)) {
    const bool table = t.name == "model.embed_tokens.weight", head = t.name == "lm_head.weight";
    if (!is_block_linear(t.name) && !(recipe.embeddings && (table || head))) continue;
    quant::QuantizableLayer l;
    l.node = l.weight = t.name;
    l.op_type = table ? "Gather" : "MatMul";
    l.out_axis = 0;  // Hugging Face layout [out, in]
    l.activation_input = table ? -1 : 0;
    found.push_back(l);
  }
  std::vector<quant::LayerPlan> plans;
  // first_last concerns CNN stems and classifiers; an LLM's ends are its embeddings and head, which stay
  // float unless "embeddings" is set.
  for (const auto& l : found) plans.push_back(quant::plan_layer(recipe, l, false, false));
  quant::check_recipe_patterns(recipe, found);
  return plans;
}

nlohmann::json LlamaQuantizeResult::to_json() const {
  return {{"units", units},
          {"resumed_units", resumed_units},
          {"params", params},
          {"quantized_params", quantized_params},
          {"model_bytes", file_bytes},  // the package: the same key as an ONNX model's packed size
          {"file_bytes", file_bytes},
          {"bits_per_weight", quantized_bits_per_weight},
          {"file_bits_per_weight", file_bits_per_weight},
          {"relative_bops", relative_bops},
          {"cost_factor", cost_factor},
          {"seconds", seconds},
          {"layers", weights}};
}

LlamaQuantizeResult quantize_llama(const LlamaModel& m, const LlamaQuantizeOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  check_llama_recipe(o.recipe, m.source);
  const std::vector<quant::LayerPlan> plans = plan_llama(m.config, o.recipe);
  const LlamaBlocks source(m, /*with_head=*/true);
  const nlohmann::json job{{"format", "pare-llama-quantize-partial"},
                           {"version", 2},
                           {"source", fs::absolute(m.source).lexically_normal().string()},
                           {"config", m.config.to_json()},
                           {"recipe", o.recipe.to_json()},
                           {"units", source.size()}};
  io::UnitFolder folder(o.out + ".partial", job, source.size(), "quantization");
  LlamaQuantizeResult res;
  res.units = source.size();
  // A method that learns runs every block's data path again, so nothing is resumed for it.
  res.resumed_units = o.recipe.learns() ? 0 : folder.finished();
  int64_t finished = res.resumed_units;
  if (o.progress) o.progress(finished, res.units);
  quant::BlockWeightsOptions bo;
  bo.batches = o.calibration;
  bo.skip = [&](int64_t k) { return folder.done(k); };
  struct StopAsked {};  // not an Error: the work folder stays, as after a real interruption
  bo.sink = [&](int64_t k, std::vector<quant::QuantizedLayer>&& layers, std::map<std::string, at::Tensor>&& floats) {
    write_unit(m, source.weights(k), std::move(layers), floats, folder, k);
    ++finished;
    if (o.progress) o.progress(finished, res.units);
    if (o.should_stop && o.should_stop()) throw StopAsked{};
  };
  try {
    quant::quantize_blocks(source, plans, o.recipe, bo);
  } catch (const StopAsked&) {
    res.interrupted = true;
    res.finished_units = finished;
    return res;
  } catch (const Error&) {
    // A weight that cannot be quantized (NaN, a bad grid) fails again on every rerun: nothing worth
    // resuming, so a work folder this run started goes. (An interrupted process keeps its folder.)
    if (folder.created()) folder.remove();
    throw;
  }
  assemble(m, o, folder, res.units);
  folder.remove();  // the package is complete; a leftover folder would only cost disk
  summarize(res, folder);
  res.file_bytes = static_cast<int64_t>(fs::file_size(o.out));
  res.file_bits_per_weight = 8.0 * static_cast<double>(res.file_bytes) / static_cast<double>(res.params);
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

}  // namespace pare::llm
