#include "pare/blocks/block_driver.h"

#include "pare/error.h"

namespace pare::blocks {

void BlockSource::set_weight(Block& b, const std::string& name, const at::Tensor& value) const {
  auto it = b.graph.initializers.find(name);
  PARE_ASSERT(it != b.graph.initializers.end(), "set_weight: the block does not hold this weight");
  it->second = value.to(it->second.scalar_type()).reshape(it->second.sizes());
}

BlockVisit::BlockVisit(const BlockSource& source, int64_t index, int64_t batches)
    : source_(source), index_(index), name_(source.name(index)), batches_(batches) {}

Block& BlockVisit::block() {
  if (!built_) {
    block_ = source_.build(index_);
    built_ = true;
  }
  return block_;
}

void BlockVisit::watch(const std::vector<std::string>& values, exec::ValueHook hook) {
  watches_.emplace_back(values, std::move(hook));
}

Values BlockVisit::run(const Values& inputs) { return capture(inputs, {}); }

Values BlockVisit::capture(const Values& inputs, const std::vector<std::string>& names) {
  Block& b = block();
  if (!executor_) executor_ = std::make_unique<exec::Executor>(b.graph);
  exec::TensorMap feeds;
  for (const auto& name : b.inputs) {
    auto it = inputs.find(name);
    PARE_ASSERT(it != inputs.end(), "a block input is missing from the values handed to it");
    feeds[name] = it->second;
  }
  std::vector<std::string> fetches = b.outputs;
  fetches.insert(fetches.end(), names.begin(), names.end());
  return executor_->run(feeds, fetches);
}

void BlockVisit::override_input(const std::string& node, int input_index, exec::WeightOverride fn) {
  if (!executor_) executor_ = std::make_unique<exec::Executor>(block().graph);
  executor_->set_weight_override(node, std::move(fn), input_index);
}

namespace {

// The values after a block: what it hands on, plus the side values of the feed that are still read.
Values next_values(const Values& before, const Values& outputs, const Values& side) {
  Values next = outputs;
  for (const auto& [name, t] : side)
    if (!next.count(name) && before.count(name)) next[name] = t;
  return next;
}

// Runs the visit's block over `inputs` (one map per batch) into `outputs`, or hands each batch's outputs to
// `collect` when given. With `free_inputs` a batch's inputs go as soon as its outputs exist, so that one block
// boundary's values are held, not two.
void run_stream(BlockVisit& v, std::vector<Values>& inputs, std::vector<Values>& outputs,
                const std::vector<Values>& side, const std::function<void(int64_t, int64_t)>& on_batch,
                const std::function<void(int64_t, Values&&)>& collect, bool free_inputs) {
  at::NoGradGuard no_grad;
  outputs.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    Values out = next_values(inputs[i], v.run(inputs[i]), side[i]);
    if (free_inputs) inputs[i].clear();
    if (collect)
      collect(static_cast<int64_t>(i), std::move(out));
    else
      outputs[i] = std::move(out);
    if (on_batch) on_batch(v.index(), static_cast<int64_t>(i));
  }
}

}  // namespace

DriveResult drive(const BlockSource& source, DriveOptions o) {
  PARE_ASSERT(o.streams != Streams::None || o.batches.empty(), "batches given to a driver with no stream");
  PARE_ASSERT(!o.skip || o.streams == Streams::None, "blocks can only be skipped without data streams");
  const int64_t n = source.size(), nb = static_cast<int64_t>(o.batches.size());
  std::vector<Values> side, floats, quants;
  for (const auto& b : o.batches) side.push_back(source.feed(b));
  floats = side;
  if (o.streams == Streams::FloatAndQuantized) quants = side;
  for (int64_t k = 0; k < n; ++k) {
    if (o.skip && o.skip(k)) {
      if (o.progress) o.progress(k + 1, n);
      continue;
    }
    BlockVisit v(source, k, nb);
    if (o.observe) o.observe(v);
    if (o.streams != Streams::None) {
      v.float_in_ = std::move(floats);
      std::vector<exec::ValueHook> installed;
      if (!v.watches_.empty()) {
        v.block();
        v.executor_ = std::make_unique<exec::Executor>(v.block_.graph);
        for (auto& [names, hook] : v.watches_)
          for (const auto& name : names) v.executor_->add_hook(name, hook);
      }
      run_stream(v, v.float_in_, v.float_out_, side, o.on_batch, k + 1 == n ? o.collect : nullptr,
                 /*free_inputs=*/!o.visit);
      if (v.executor_) v.executor_->clear_hooks();
    }
    if (o.streams == Streams::FloatAndQuantized) v.quant_in_ = std::move(quants);
    if (o.visit) o.visit(v);
    if (o.streams == Streams::FloatAndQuantized)
      run_stream(v, v.quant_in_, quants, side, nullptr, nullptr, /*free_inputs=*/true);
    if (o.streams != Streams::None) floats = std::move(v.float_out_);
    v.executor_.reset();
    source.release(k);
    if (o.progress) o.progress(k + 1, n);
  }
  return {std::move(floats), std::move(quants)};
}

}  // namespace pare::blocks
