// pare_conformance: runs the ONNX backend test data (node/, pytorch-converted/, pytorch-operator/, simple/)
// through io::load_onnx + exec::Executor, compares with the backend's default tolerance, and prints a
// per-op table. Failures of supported ops not listed in exceptions.txt make the exit status non-zero.
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "pare/error.h"
#include "pare/exec/executor.h"
#include "pare/io/onnx_import.h"
#include "pare/io/onnx_tensor.h"
#include "pare/ops/op_table.h"

namespace fs = std::filesystem;

namespace {

constexpr double kRtol = 1e-3;  // onnx.backend.test.runner defaults
constexpr double kAtol = 1e-7;
const char* const kSuites[] = {"node", "pytorch-converted", "pytorch-operator", "simple"};

#ifndef PARE_CONFORMANCE_DIR
#define PARE_CONFORMANCE_DIR "tests/conformance"
#endif

struct Options {
  std::string root = "/usr/include/onnx/backend/test/data";
  std::string exceptions = std::string(PARE_CONFORMANCE_DIR) + "/exceptions.txt";
  std::string op_filter, test_filter, json_path;
  bool verbose = false;
};

enum class Status { Passed, Failed, Skipped };

struct TestResult {
  std::string name, suite;
  std::vector<std::string> ops;  // op types the model uses (domain-qualified outside ai.onnx)
  Status status = Status::Skipped;
  std::string reason;         // failure or skip reason (first line)
  bool excepted = false;      // failure listed in exceptions.txt
  bool filtered_out = false;  // does not use the --op filter's op
  double seconds = 0;
};

std::string first_line(const std::string& s) {
  auto p = s.find('\n');
  return p == std::string::npos ? s : s.substr(0, p);
}

std::string op_key(const std::string& domain, const std::string& op) {
  return (domain.empty() || domain == "ai.onnx") ? op : domain + "." + op;
}

// Every (domain, op) in a graph, including nested sub-graphs (If/Loop/Scan bodies).
void collect_ops(const onnx::GraphProto& g, std::set<std::pair<std::string, std::string>>& out) {
  for (const auto& n : g.node()) {
    out.insert({n.domain() == "ai.onnx" ? "" : n.domain(), n.op_type()});
    for (const auto& a : n.attribute()) {
      if (a.has_g()) collect_ops(a.g(), out);
      for (const auto& sg : a.graphs()) collect_ops(sg, out);
    }
  }
}

// Why a value type cannot be fed to or compared from pare (empty when it can).
std::string unsupported_type(const onnx::TypeProto& t) {
  if (t.has_sequence_type()) return "sequence values";
  if (t.has_optional_type()) return "optional values";
  if (t.has_map_type()) return "map values";
  if (t.has_sparse_tensor_type()) return "sparse tensors";
  if (t.has_tensor_type()) {
    int et = t.tensor_type().elem_type();
    if (et == onnx::TensorProto::STRING) return "string tensors (libtorch has no string type)";
    if (et == onnx::TensorProto::UINT16 || et == onnx::TensorProto::UINT32 || et == onnx::TensorProto::UINT64)
      return "unsigned 16/32/64-bit tensors (libtorch 1.13 has no such types)";
  }
  return "";
}

at::Tensor read_tensor_pb(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw pare::Error("cannot open test data").file(path.string());
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  onnx::TensorProto proto;
  if (!proto.ParseFromString(bytes))
    throw pare::Error("not a TensorProto (sequence/optional data is unsupported)").file(path.string());
  return pare::io::tensor_from_proto(proto, path.parent_path().string(), path.string());
}

std::vector<fs::path> numbered_files(const fs::path& dir, const std::string& prefix) {
  std::vector<fs::path> out;
  for (int i = 0;; ++i) {
    fs::path p = dir / (prefix + std::to_string(i) + ".pb");
    if (!fs::exists(p)) break;
    out.push_back(p);
  }
  return out;
}

std::string sizes_str(at::IntArrayRef s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

// Empty when `got` matches `ref` (dtype, shape, values within rtol/atol, NaN == NaN); else why not.
std::string compare(const at::Tensor& ref, const at::Tensor& got) {
  if (!got.defined()) return "output not produced";
  if (ref.scalar_type() != got.scalar_type())
    return std::string("dtype ") + c10::toString(got.scalar_type()) + ", expected " + c10::toString(ref.scalar_type());
  if (ref.sizes() != got.sizes()) return "shape " + sizes_str(got.sizes()) + ", expected " + sizes_str(ref.sizes());
  if (ref.numel() == 0) return "";
  at::Tensor g = got.detach().contiguous();
  if (ref.is_complex()) {
    at::Tensor a = at::view_as_real(ref.to(at::kComplexDouble)), b = at::view_as_real(g.to(at::kComplexDouble));
    at::Tensor ok = (a - b).abs() <= kAtol + kRtol * a.abs();
    return ok.all().item<bool>() ? "" : "complex values differ";
  }
  if (!at::isFloatingType(ref.scalar_type())) {
    at::Tensor bad = ref.ne(g);
    if (!bad.any().item<bool>()) return "";
    int64_t n = bad.sum().item<int64_t>();
    int64_t idx = bad.reshape(-1).nonzero()[0][0].item<int64_t>();
    std::ostringstream os;
    os << n << " of " << ref.numel() << " values differ; first at flat index " << idx << ": got "
       << g.reshape(-1)[idx].to(at::kDouble).item<double>() << ", expected "
       << ref.reshape(-1)[idx].to(at::kDouble).item<double>();
    return os.str();
  }
  at::Tensor a = ref.to(at::kDouble), b = g.to(at::kDouble);
  at::Tensor ok = ((a - b).abs() <= kAtol + kRtol * a.abs()) | (a.isnan() & b.isnan()) | a.eq(b);
  if (ok.all().item<bool>()) return "";
  at::Tensor bad = ok.logical_not().reshape(-1);
  int64_t n = bad.sum().item<int64_t>();
  int64_t idx = bad.nonzero()[0][0].item<int64_t>();
  at::Tensor diff = (a - b).abs().reshape(-1).masked_select(bad);
  std::ostringstream os;
  os.precision(7);
  os << n << " of " << ref.numel() << " values differ (max abs diff " << diff.max().item<double>()
     << "); first at flat index " << idx << ": got " << b.reshape(-1)[idx].item<double>() << ", expected "
     << a.reshape(-1)[idx].item<double>();
  return os.str();
}

// Runs every test_data_set_* of one model folder. Returns the failure reason, or "" when all pass.
std::string run_model(const fs::path& dir, const pare::ir::Graph& graph) {
  pare::exec::Executor ex(graph);
  std::vector<fs::path> sets;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0) sets.push_back(e.path());
  std::sort(sets.begin(), sets.end());
  if (sets.empty()) return "no test_data_set_* folder";
  for (const auto& set : sets) {
    std::vector<at::Tensor> inputs;
    for (const auto& p : numbered_files(set, "input_")) inputs.push_back(read_tensor_pb(p));
    std::vector<at::Tensor> refs;
    for (const auto& p : numbered_files(set, "output_")) refs.push_back(read_tensor_pb(p));
    if (inputs.size() != graph.inputs.size())
      return set.filename().string() + ": " + std::to_string(inputs.size()) + " input files for " +
             std::to_string(graph.inputs.size()) + " graph inputs";
    pare::exec::TensorMap feeds;
    for (size_t i = 0; i < inputs.size(); ++i) feeds[graph.inputs[i].name] = inputs[i];
    std::vector<std::string> fetches;
    for (size_t i = 0; i < refs.size() && i < graph.outputs.size(); ++i) fetches.push_back(graph.outputs[i].name);
    pare::exec::TensorMap out = ex.run(feeds, fetches);
    for (size_t i = 0; i < fetches.size(); ++i) {
      std::string why = compare(refs[i], out[fetches[i]]);
      if (!why.empty()) return set.filename().string() + " output '" + fetches[i] + "': " + why;
    }
  }
  return "";
}

TestResult run_test(const fs::path& dir, const std::string& suite, const std::string& op_filter) {
  TestResult r;
  r.name = dir.filename().string();
  r.suite = suite;
  auto t0 = std::chrono::steady_clock::now();
  try {
    fs::path model_path = dir / "model.onnx";
    onnx::ModelProto model = pare::io::read_model_proto(model_path.string());
    std::map<std::string, int64_t> opsets;
    for (const auto& o : model.opset_import()) opsets[o.domain() == "ai.onnx" ? "" : o.domain()] = o.version();
    if (!opsets.count("")) opsets[""] = 1;
    std::set<std::pair<std::string, std::string>> used;
    collect_ops(model.graph(), used);
    std::vector<std::string> missing;
    const auto& table = pare::ops::OpTable::builtin();
    for (const auto& [domain, op] : used) {
      r.ops.push_back(op_key(domain, op));
      int64_t opset = opsets.count(domain) ? opsets[domain] : 1;
      if (!table.find(domain, op, opset)) missing.push_back(op_key(domain, op) + "-" + std::to_string(opset));
    }
    if (!op_filter.empty() && std::find(r.ops.begin(), r.ops.end(), op_filter) == r.ops.end()) {
      r.filtered_out = true;
      return r;
    }
    if (!missing.empty()) {
      r.reason = "unsupported op(s):";
      for (const auto& m : missing) r.reason += " " + m;
      return r;
    }
    for (const auto* list : {&model.graph().input(), &model.graph().output()})
      for (const auto& v : *list) {
        std::string why = unsupported_type(v.type());
        if (!why.empty()) {
          r.reason = "unsupported value type: " + why + " ('" + v.name() + "')";
          return r;
        }
      }
    pare::ir::Graph graph = pare::io::graph_from_model(model, dir.string(), model_path.string());
    r.reason = run_model(dir, graph);
    r.status = r.reason.empty() ? Status::Passed : Status::Failed;
  } catch (const std::exception& e) {
    r.status = Status::Failed;
    r.reason = first_line(e.what());
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.reason = first_line(r.reason);
  return r;
}

// exceptions.txt: "test_name  reason" per line; '#' comments and blank lines ignored.
std::map<std::string, std::string> load_exceptions(const std::string& path) {
  std::map<std::string, std::string> out;
  std::ifstream f(path);
  if (!f) return out;
  std::string line;
  int lineno = 0;
  while (std::getline(f, line)) {
    ++lineno;
    auto b = line.find_first_not_of(" \t");
    if (b == std::string::npos || line[b] == '#') continue;
    auto e = line.find_first_of(" \t", b);
    std::string name = line.substr(b, e == std::string::npos ? std::string::npos : e - b);
    std::string reason = e == std::string::npos ? "" : line.substr(e);
    reason.erase(0, std::min(reason.size(), reason.find_first_not_of(" \t")));
    if (reason.empty())
      throw pare::Error("exception line " + std::to_string(lineno) + " for '" + name + "' gives no reason")
          .file(path)
          .hint("write `test_name  why it cannot pass`");
    out[name] = reason;
  }
  return out;
}

void usage() {
  std::cout << "usage: pare_conformance [ROOT] [--op NAME] [--test SUBSTRING] [--json FILE] [--exceptions FILE] [-v]\n"
               "  ROOT defaults to /usr/include/onnx/backend/test/data\n";
}

int run(const Options& opt) {
  auto start = std::chrono::steady_clock::now();
  std::map<std::string, std::string> exceptions = load_exceptions(opt.exceptions);
  std::vector<TestResult> results;
  for (const char* suite : kSuites) {
    fs::path sdir = fs::path(opt.root) / suite;
    if (!fs::is_directory(sdir)) continue;
    std::vector<fs::path> dirs;
    for (const auto& e : fs::directory_iterator(sdir))
      if (e.is_directory() && fs::exists(e.path() / "model.onnx")) dirs.push_back(e.path());
    std::sort(dirs.begin(), dirs.end());
    for (const auto& d : dirs) {
      const std::string name = d.filename().string();
      if (!opt.test_filter.empty() && name.find(opt.test_filter) == std::string::npos) continue;
      if (opt.verbose) std::cerr << suite << "/" << name << " ..." << std::endl;
      TestResult r = run_test(d, suite, opt.op_filter);
      if (r.filtered_out) continue;
      if (r.status == Status::Failed && exceptions.count(r.name)) r.excepted = true;
      if (opt.verbose) std::cerr << "  " << r.seconds << " s " << r.reason << std::endl;
      results.push_back(std::move(r));
    }
  }
  if (results.empty()) {
    std::cout << "no tests found under " << opt.root << " (filters: op='" << opt.op_filter << "' test='"
              << opt.test_filter << "')\n0 passed, 0 failed\n";
    return 1;
  }

  struct OpRow {
    int passed = 0, run = 0, skipped = 0;
    std::vector<const TestResult*> failures;
    std::set<std::string> skip_reasons;
  };
  std::map<std::string, OpRow> rows;
  for (const auto& r : results)
    for (const auto& op : r.ops) {
      if (!opt.op_filter.empty() && op != opt.op_filter) continue;
      OpRow& row = rows[op];
      if (r.status == Status::Skipped) {
        ++row.skipped;
        row.skip_reasons.insert(r.reason);
      } else {
        ++row.run;
        if (r.status == Status::Passed)
          ++row.passed;
        else
          row.failures.push_back(&r);
      }
    }

  int passed = 0, failed = 0, skipped = 0, excepted = 0;
  for (const auto& r : results) {
    if (r.status == Status::Passed) ++passed;
    if (r.status == Status::Failed) ++failed, excepted += r.excepted;
    if (r.status == Status::Skipped) ++skipped;
  }
  std::printf("%-28s %7s %5s %8s\n", "op", "passed", "run", "skipped");
  int ops_supported = 0, ops_clean = 0;
  for (const auto& [op, row] : rows) {
    std::printf("%-28s %7d %5d %8d%s\n", op.c_str(), row.passed, row.run, row.skipped,
                row.run == 0 ? "  (not run)" : "");
    if (row.run > 0) ++ops_supported;
    if (row.run > 0 && row.failures.empty()) ++ops_clean;
    for (const auto* f : row.failures)
      std::printf("    FAIL%s %s: %s\n", f->excepted ? " (listed exception)" : "", f->name.c_str(), f->reason.c_str());
  }
  std::vector<std::string> stale;
  for (const auto& [name, why] : exceptions) {
    auto it = std::find_if(results.begin(), results.end(), [&](const TestResult& r) { return r.name == name; });
    if (it != results.end() && it->status == Status::Passed) stale.push_back(name);
  }
  for (const auto& s : stale) std::printf("note: %s passes but is listed in exceptions.txt\n", s.c_str());

  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "%d ops run (%d with every test passing), %d tests skipped for unsupported ops or types, "
      "%d failures listed as exceptions, %.1f s\n",
      ops_supported, ops_clean, skipped, excepted, secs);
  std::printf("%d passed, %d failed\n", passed, failed);

  if (!opt.json_path.empty()) {
    nlohmann::json j;
    j["summary"] = {
        {"passed", passed}, {"failed", failed}, {"skipped", skipped}, {"excepted", excepted}, {"seconds", secs}};
    for (const auto& [op, row] : rows) {
      nlohmann::json o = {{"op", op}, {"passed", row.passed}, {"run", row.run}, {"skipped", row.skipped}};
      o["failures"] = nlohmann::json::array();
      for (const auto* f : row.failures)
        o["failures"].push_back({{"test", f->name}, {"reason", f->reason}, {"excepted", f->excepted}});
      o["skip_reasons"] = row.skip_reasons;
      j["ops"].push_back(o);
    }
    for (const auto& r : results) {
      const char* st = r.status == Status::Passed ? "passed" : r.status == Status::Failed ? "failed" : "skipped";
      j["tests"].push_back({{"name", r.name},
                            {"suite", r.suite},
                            {"status", st},
                            {"reason", r.reason},
                            {"excepted", r.excepted},
                            {"ops", r.ops},
                            {"seconds", r.seconds}});
    }
    std::ofstream f(opt.json_path);
    if (!f) throw pare::Error("cannot write the JSON table").file(opt.json_path);
    f << j.dump(2) << "\n";
  }
  return failed - excepted > 0 ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "pare_conformance: " << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--op")
      opt.op_filter = value();
    else if (a == "--test")
      opt.test_filter = value();
    else if (a == "--json")
      opt.json_path = value();
    else if (a == "--exceptions")
      opt.exceptions = value();
    else if (a == "-v" || a == "--verbose")
      opt.verbose = true;
    else if (a == "-h" || a == "--help")
      return usage(), 0;
    else if (!a.empty() && a[0] == '-')
      return usage(), 2;
    else
      opt.root = a;
  }
  try {
    return run(opt);
  } catch (const std::exception& e) {
    std::cerr << "pare_conformance: " << e.what() << "\n";
    return 2;
  }
}
