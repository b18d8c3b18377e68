// latency_bench: fp32 latency of pare's executor on one ONNX model at a given batch (random seeded input), as JSON:
// warm-up runs, then the median of timed runs. With --profile it also attributes time to op types through a value
// hook on every value (the gap between consecutive computed values belongs to the node that produced the second).
// usage: latency_bench MODEL --batch N [--threads 2] [--warmup 3] [--repeat 10] [--min-seconds 1] [--profile]
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "pare/error.h"
#include "pare/exec/caching_allocator.h"
#include "pare/exec/executor.h"
#include "pare/exec/inference_setup.h"
#include "pare/exec/threads.h"
#include "pare/io/onnx_import.h"

namespace {

using Clock = std::chrono::steady_clock;

// CPU time of the whole process (all threads), in ms: unlike wall time, barely affected by other processes
// competing for the cores (spin-waiting threads still count).
double process_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return 1e3 * static_cast<double>(ts.tv_sec) + 1e-6 * static_cast<double>(ts.tv_nsec);
}

struct Options {
  std::string model;
  int64_t batch = 1;
  int threads = 2;
  int warmup = 3;
  int repeat = 10;
  double min_seconds = 1.0;  // keep timing past `repeat` runs until this much time was measured (at most 200 runs)
  bool profile = false;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw pare::Error("option " + a + " needs a value");
      return argv[++i];
    };
    if (a == "--batch")
      o.batch = std::stoll(next());
    else if (a == "--threads")
      o.threads = std::stoi(next());
    else if (a == "--warmup")
      o.warmup = std::stoi(next());
    else if (a == "--repeat")
      o.repeat = std::stoi(next());
    else if (a == "--min-seconds")
      o.min_seconds = std::stod(next());
    else if (a == "--profile")
      o.profile = true;
    else if (o.model.empty())
      o.model = a;
    else
      throw pare::Error("unexpected argument " + a).hint("usage: latency_bench MODEL --batch N [--profile]");
  }
  if (o.model.empty()) throw pare::Error("no model given").hint("usage: latency_bench MODEL --batch N [--profile]");
  return o;
}

// A seeded random feed for every graph input: the batch replaces dimension 0, symbolic dims must not remain.
pare::exec::TensorMap make_feeds(const pare::ir::Graph& g, int64_t batch) {
  at::manual_seed(0);
  pare::exec::TensorMap feeds;
  for (const auto& in : g.inputs) {
    if (!in.shape) throw pare::Error("input has no declared shape").tensor(in.name).file(g.name);
    std::vector<int64_t> sizes;
    for (size_t d = 0; d < in.shape->size(); ++d) {
      const auto& dim = (*in.shape)[d];
      if (d == 0)
        sizes.push_back(batch);
      else if (dim.known())
        sizes.push_back(dim.value);
      else
        throw pare::Error("input has a symbolic dimension besides the batch")
            .tensor(in.name)
            .got(pare::ir::shape_string(in.shape))
            .hint("export the model with a fixed shape except dimension 0");
    }
    if (in.dtype == pare::ir::DType::Int64)
      feeds[in.name] = at::randint(0, 100, sizes, at::kLong);
    else
      feeds[in.name] = at::randn(sizes);
  }
  return feeds;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int run(int argc, char** argv) {
  const Options o = parse(argc, argv);
  pare::exec::set_threads(o.threads);
  // The same set-up as `pare run`: caching allocator, inference pipeline, channels-last convolutions.
  pare::exec::install_caching_cpu_allocator();
  pare::ir::Graph g = pare::io::load_onnx(o.model);
  pare::exec::Executor ex(g, pare::exec::prepare_for_inference(g));
  const pare::exec::TensorMap feeds = make_feeds(g, o.batch);
  for (int i = 0; i < o.warmup; ++i) ex.run(feeds);

  std::vector<double> times_ms, cpu_ms;
  double total_s = 0;
  while ((static_cast<int>(times_ms.size()) < o.repeat || total_s < o.min_seconds) && times_ms.size() < 200) {
    const double c0 = process_cpu_ms();
    const auto t0 = Clock::now();
    ex.run(feeds);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    cpu_ms.push_back(process_cpu_ms() - c0);
    times_ms.push_back(1e3 * s);
    total_s += s;
  }
  nlohmann::json out = {{"model", o.model},
                        {"batch", o.batch},
                        {"threads", o.threads},
                        {"runs", times_ms.size()},
                        {"median_ms", median(times_ms)},
                        {"min_ms", *std::min_element(times_ms.begin(), times_ms.end())},
                        {"median_cpu_ms", median(cpu_ms)}};

  if (o.profile) {
    std::map<std::string, std::string> op_of;  // value -> op type of its producer
    for (const auto& n : g.nodes)
      for (const auto& v : n.outputs) op_of[v] = n.op_type;
    std::map<std::string, std::vector<double>> per_op_runs;  // op type -> ms per profiled run
    const int profile_runs = std::max(3, o.repeat / 2);
    Clock::time_point last;
    std::map<std::string, double> acc;
    std::map<std::string, int64_t> count;
    ex.add_hook("*", [&](const std::string& name, const at::Tensor&) {
      const auto now = Clock::now();
      auto it = op_of.find(name);
      if (it != op_of.end()) acc[it->second] += std::chrono::duration<double, std::milli>(now - last).count();
      last = Clock::now();
    });
    for (int r = 0; r < profile_runs; ++r) {
      acc.clear();
      last = Clock::now();
      ex.run(feeds);
      for (const auto& [op, ms] : acc) per_op_runs[op].push_back(ms);
    }
    ex.clear_hooks();
    for (const auto& n : g.nodes) ++count[n.op_type];
    nlohmann::json ops = nlohmann::json::object();
    for (const auto& [op, runs] : per_op_runs) ops[op] = {{"median_ms", median(runs)}, {"nodes", count[op]}};
    out["profile"] = ops;
  }
  std::cout << out.dump() << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const pare::Error& e) {
    std::cerr << "latency_bench: error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "latency_bench: internal error: " << e.what() << "\n";
    return 1;
  }
}
