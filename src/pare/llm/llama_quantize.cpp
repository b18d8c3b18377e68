#include "pare/llm/llama_quantize.h"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>

#include "pare/error.h"
#include "pare/io/atomic_file.h"
#include "pare/io/json_file.h"
#include "pare/io/package_format.h"
#include "pare/quant/quantized_tensor.h"
#include "pare/quant/weight_method.h"

namespace pare::llm {
namespace fs = std::filesystem;

namespace {

bool is_block_linear(const std::string& name) {
  const auto ends_with = [&](const std::string& s) {
    return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  return name.rfind("model.layers.", 0) == 0 && ends_with("_proj.weight");
}

// The units of work, in file order: embeddings, each block, final norm and head.
std::vector<std::vector<std::string>> units_of(const LlamaConfig& c) {
  std::vector<std::vector<std::string>> units(c.num_layers + 2);
  for (const auto& t : llama_tensors(c)) {
    if (t.layer >= 0)
      units[t.layer + 1].push_back(t.name);
    else if (t.name == "model.embed_tokens.weight")
      units[0].push_back(t.name);
    else
      units.back().push_back(t.name);
  }
  return units;
}

std::string unit_path(const fs::path& dir, size_t k, const char* ext) {
  return (dir / fmt::format("unit-{:04d}.{}", k, ext)).string();
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

nlohmann::json row_json(const LlamaQuantizedWeight& w) {
  return {{"name", w.name},
          {"quantized", w.quantized},
          {"grid", w.grid},
          {"granularity", w.granularity},
          {"numel", w.numel},
          {"bits_per_weight", w.bits_per_weight},
          {"relative_error", w.relative_error},
          {"note", w.note},
          {"wbits", w.wbits},
          {"cost_factor", w.cost_factor}};
}

LlamaQuantizedWeight row_from_json(const nlohmann::json& j) {
  LlamaQuantizedWeight w;
  w.name = j.at("name").get<std::string>();
  w.quantized = j.at("quantized").get<bool>();
  w.grid = j.at("grid").get<std::string>();
  w.granularity = j.at("granularity").get<std::string>();
  w.numel = j.at("numel").get<int64_t>();
  w.bits_per_weight = j.at("bits_per_weight").get<double>();
  w.relative_error = j.at("relative_error").get<double>();
  w.note = j.at("note").get<std::string>();
  w.wbits = j.value("wbits", 0);
  w.cost_factor = j.value("cost_factor", 1.0);
  return w;
}

// Quantizes (or stores in float) the weights of one unit; returns the unit's JSON (header entries, blob
// table into the .bin, report rows) and writes the blobs to `bin`.
nlohmann::json run_unit(const LlamaModel& m, const std::vector<std::string>& names,
                        const std::map<std::string, quant::LayerPlan>& plans, const quant::Recipe& recipe,
                        const std::string& bin) {
  std::vector<std::pair<std::string, std::string>> blobs;
  nlohmann::json tensors = nlohmann::json::object(), quantized = nlohmann::json::array(),
                 rows = nlohmann::json::array();
  for (const auto& name : names) {
    const at::Tensor t = m.weights(name);
    PARE_ASSERT(t.defined(), "a tensor checked at load time is missing");
    LlamaQuantizedWeight row;
    row.name = name;
    row.numel = t.numel();
    auto it = plans.find(name);
    if (it != plans.end()) row.note = it->second.reason;
    if (it != plans.end() && it->second.quantize) {
      const quant::LayerPlan& p = it->second;
      const at::Tensor w = t.to(at::kFloat);
      quant::LayerWeight lw = quant::quantize_layer_weight(w, p, recipe);
      const quant::QuantizedTensor& q = lw.weight;
      if (!lw.note.empty()) row.note += (row.note.empty() ? "" : "; ") + lw.note;
      if (lw.exponent > 0) row.note += fmt::format("{}exponent {:.3f}", row.note.empty() ? "" : "; ", lw.exponent);
      if (!q.terms.empty())
        row.note +=
            fmt::format("{}{} terms, cost x{:.3f}", row.note.empty() ? "" : "; ", q.terms.size() + 1, q.cost_factor());
      const double norm = w.square().sum().item<double>();
      row.relative_error = norm > 0 ? (q.dequantize() - w).square().sum().item<double>() / norm : 0.0;
      row.quantized = true;
      row.wbits = q.grid.bits;
      row.cost_factor = q.cost_factor();
      row.grid = q.grid.str();
      row.granularity = q.granularity.str();
      row.bits_per_weight = q.bits_per_weight();
      nlohmann::json e = io::quantized_entry(q, name, blobs);
      e["weight"] = name;
      quantized.push_back(e);
    } else {
      auto [dtype, stored] = float_storage(t);
      row.grid = dtype == "F16" ? "float16" : "float32";
      row.granularity = "-";
      row.bits_per_weight = dtype == "F16" ? 16 : 32;
      blobs.emplace_back(name, tensor_bytes(stored));
      tensors[name] = {{"dtype", dtype}, {"shape", t.sizes().vec()}, {"data", name}};
    }
    if (m.release) m.release(name);
    rows.push_back(row_json(row));
  }
  nlohmann::json table = nlohmann::json::array();
  uint64_t offset = 0;
  for (const auto& [name, bytes] : blobs) {
    table.push_back({{"name", name},
                     {"offset", offset},
                     {"bytes", bytes.size()},
                     {"crc32", io::package_crc(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size())}});
    offset += bytes.size();
  }
  io::write_atomic(bin, [&](std::ostream& out) {
    for (const auto& b : blobs) out.write(b.second.data(), static_cast<std::streamsize>(b.second.size()));
  });
  return {{"tensors", tensors}, {"quantized", quantized}, {"blobs", table}, {"rows", rows}, {"bin_bytes", offset}};
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
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& w : weights) rows.push_back(row_json(w));
  return {{"units", units},
          {"resumed_units", resumed_units},
          {"params", params},
          {"quantized_params", quantized_params},
          {"file_bytes", file_bytes},
          {"quantized_bits_per_weight", quantized_bits_per_weight},
          {"file_bits_per_weight", file_bits_per_weight},
          {"relative_bops", relative_bops},
          {"cost_factor", cost_factor},
          {"seconds", seconds},
          {"weights", rows}};
}

LlamaQuantizeResult quantize_llama(const LlamaModel& m, const LlamaQuantizeOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  const quant::Recipe& r = o.recipe;
  if (r.method == "dfq")
    throw Error("method dfq does not apply to Llama models")
        .file(m.source)
        .got("--method dfq")
        .hint(
            "DFQ equalizes across ReLU and corrects biases from BatchNorm statistics; a Llama has neither. Data-free "
            "methods for Llamas: rtn, rex, powerquant, tquant, mquant, ternary-rtn");
  if (r.ensemble > 1)
    throw Error("a PIPE ensemble does not apply to Llama models")
        .file(m.source)
        .got(fmt::format("--ensemble {}", r.ensemble))
        .hint("RMSNorm does not commute with a sum of members; use --method rex without --ensemble");
  if (r.method == "powerquant" && r.exponent == "global")
    throw Error("a global PowerQuant exponent needs every weight at once; Llamas are quantized block by block")
        .file(m.source)
        .hint("leave --exponent out (one exponent per weight)");
  if (r.abits != 0)
    throw Error("Llama quantization is weights-only")
        .file(m.source)
        .got(fmt::format("--abits {}", r.abits))
        .hint("pass --abits 0 (or leave --abits out): activations stay float");
  if (r.first_last != "same")
    throw Error("first_last does not apply to Llama models")
        .file(m.source)
        .got(r.first_last)
        .hint(
            "embeddings and head stay float unless the recipe sets \"embeddings\": true; use layer rules "
            "(e.g. {\"match\": \"model\\\\.layers\\\\.0\\\\..*\", \"wbits\": 8}) for other layers");
  std::map<std::string, quant::LayerPlan> plans;
  for (auto& p : plan_llama(m.config, r)) plans[p.layer.weight] = p;

  const auto units = units_of(m.config);
  const fs::path dir = o.out + ".partial";
  const nlohmann::json job{{"format", "pare-llama-quantize-partial"},
                           {"version", 1},
                           {"source", fs::absolute(m.source).lexically_normal().string()},
                           {"config", m.config.to_json()},
                           {"recipe", r.to_json()},
                           {"units", units.size()}};
  const std::string job_path = (dir / "job.json").string();
  bool created = false;
  if (fs::exists(dir)) {
    const nlohmann::json old = fs::exists(job_path) ? io::read_json_file(job_path, "work folder job", "") : nullptr;
    if (old != job)
      throw Error("the work folder holds an unfinished quantization with other settings")
          .file(dir.string())
          .hint("run again with the same model and settings to resume it, or delete the folder to start over");
  } else {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw Error("cannot create the work folder").file(dir.string()).got(ec.message());
    io::write_atomic(job_path, [&](std::ostream& out) { out << job.dump(2) << "\n"; });
    created = true;
  }

  LlamaQuantizeResult res;
  res.units = static_cast<int64_t>(units.size());
  std::vector<nlohmann::json> done(units.size());
  for (size_t k = 0; k < units.size(); ++k) {
    const std::string js = unit_path(dir, k, "json"), bin = unit_path(dir, k, "bin");
    if (!fs::exists(js)) continue;
    try {  // a unit whose files do not agree is simply done again
      nlohmann::json u = io::read_json_file(js, "finished unit", "delete the work folder to start over");
      if (!fs::exists(bin) || fs::file_size(bin) != u.at("bin_bytes").get<uint64_t>()) continue;
      done[k] = std::move(u);
    } catch (const std::exception&) {
      continue;
    }
    ++res.resumed_units;
  }
  int64_t finished = res.resumed_units, written = 0;
  if (o.progress) o.progress(finished, res.units);
  for (size_t k = 0; k < units.size(); ++k) {
    if (!done[k].is_null()) continue;
    if (o.stop_after_units >= 0 && written == o.stop_after_units)
      throw Error(fmt::format("stopped after {} units, as asked", written)).file(o.out);
    try {
      nlohmann::json u = run_unit(m, units[k], plans, r, unit_path(dir, k, "bin"));
      io::write_atomic(unit_path(dir, k, "json"), [&](std::ostream& out) { out << u.dump() << "\n"; });
      done[k] = std::move(u);
    } catch (const Error&) {
      // A weight that cannot be quantized (NaN, a bad grid) fails again on every rerun: nothing worth
      // resuming, so a work folder this run started goes. (An interrupted process keeps its folder.)
      std::error_code ec;
      if (created) fs::remove_all(dir, ec);
      throw;
    }
    ++written;
    if (o.progress) o.progress(++finished, res.units);
  }

  // Assemble: header entries from every unit, blobs streamed from the units' files.
  nlohmann::json tensors = nlohmann::json::object(), quantized = nlohmann::json::array();
  std::vector<io::BlobSource> blobs;
  double qbits = 0, bops = 0, cost = 0;
  for (size_t k = 0; k < units.size(); ++k) {
    const nlohmann::json& u = done[k];
    for (const auto& [name, e] : u.at("tensors").items()) tensors[name] = e;
    for (const auto& e : u.at("quantized")) quantized.push_back(e);
    for (const auto& row : u.at("rows")) {
      LlamaQuantizedWeight w = row_from_json(row);
      res.params += w.numel;
      if (w.quantized) {
        res.quantized_params += w.numel;
        qbits += w.bits_per_weight * static_cast<double>(w.numel);
        bops += static_cast<double>(w.numel) * w.wbits * w.cost_factor;
        cost += static_cast<double>(w.numel) * w.cost_factor;
      }
      res.weights.push_back(std::move(w));
    }
    const std::string bin = unit_path(dir, k, "bin");
    for (const auto& b : u.at("blobs")) {
      io::BlobSource s;
      s.name = b.at("name").get<std::string>();
      s.bytes = b.at("bytes").get<uint64_t>();
      s.crc32 = b.at("crc32").get<uint32_t>();
      const uint64_t offset = b.at("offset").get<uint64_t>(), bytes = s.bytes;
      s.write = [bin, offset, bytes](std::ostream& out) {
        std::ifstream in(bin, std::ios::binary);
        in.seekg(static_cast<std::streamoff>(offset));
        std::vector<char> buf(std::min<uint64_t>(bytes, 4 << 20));
        for (uint64_t left = bytes; left > 0;) {
          const auto n = static_cast<std::streamsize>(std::min<uint64_t>(left, buf.size()));
          if (!in.read(buf.data(), n)) throw Error("cannot read a finished unit back").file(bin);
          out.write(buf.data(), n);
          left -= static_cast<uint64_t>(n);
        }
      };
      blobs.push_back(std::move(s));
    }
  }
  nlohmann::json header{
      {"format", "pare"},       {"version", io::kPackageVersion}, {"producer", std::string("pare ") + PARE_VERSION},
      {"metadata", o.metadata}, {"llama", m.config.to_json()},    {"tokenizer", nullptr},
      {"tensors", tensors},     {"quantized", quantized}};
  header["metadata"]["recipe"] = r.to_json();
  if (o.tokenizer) {
    blobs.push_back(io::memory_blob("tokenizer.model", *o.tokenizer));
    header["tokenizer"] = "tokenizer.model";
  }
  io::write_package(o.out, header, blobs, o.protected_inputs);
  std::error_code ec;
  fs::remove_all(dir, ec);  // the package is complete; a leftover folder would only cost disk
  res.file_bytes = static_cast<int64_t>(fs::file_size(o.out));
  res.quantized_bits_per_weight = res.quantized_params ? qbits / static_cast<double>(res.quantized_params) : 0.0;
  if (res.quantized_params) {
    res.relative_bops = bops / (8.0 * static_cast<double>(res.quantized_params));
    res.cost_factor = cost / static_cast<double>(res.quantized_params);
  }
  res.file_bits_per_weight = 8.0 * static_cast<double>(res.file_bytes) / static_cast<double>(res.params);
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

}  // namespace pare::llm
