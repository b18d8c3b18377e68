// pare's GGUF against llama.cpp's own ggml library, loaded at run time (nothing of it is built or vendored here):
// ggml_quantize_chunk (what llama-quantize calls; without an importance matrix it runs quantize_row_*_ref) must
// produce the bytes pare writes for Q8_0 and Q4_0; ggml's gguf reader must accept pare's files and see the same
// keys, types, values, tensor offsets and sizes; pare must read a file that ggml's gguf writer wrote.
// Set PARE_GGML_LIB to a libggml-base.so, e.g. the prebuilt one in the npm package @node-llama-cpp/linux-x64:
//   npm pack @node-llama-cpp/linux-x64@3.22.1 && tar xzf node-llama-cpp-linux-x64-3.22.1.tgz
//   PARE_GGML_LIB=$PWD/package/bins/linux-x64/libggml-base.so build/pare_tests --gtest_filter='GgufLlamaCpp*'
// Skipped when PARE_GGML_LIB is not set.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "pare/io/gguf.h"

namespace pare::io {
namespace {

// The part of ggml.h / gguf.h used here, restated (ggml's headers are not installed on this machine).
struct ggml_context;
struct gguf_context;
struct ggml_tensor;
struct GgufInitParams {
  bool no_alloc;
  ggml_context** ctx;
};
struct GgmlInitParams {
  size_t mem_size;
  void* mem_buffer;
  bool no_alloc;
};

struct Ggml {
  void* handle = nullptr;
  size_t (*quantize_chunk)(int, const float*, void*, int64_t, int64_t, int64_t, const float*) = nullptr;
  void (*dequantize_row_q4_0)(const void*, float*, int64_t) = nullptr;
  gguf_context* (*init_from_file)(const char*, GgufInitParams) = nullptr;
  void (*gguf_free)(gguf_context*) = nullptr;
  int64_t (*get_n_kv)(const gguf_context*) = nullptr;
  const char* (*get_key)(const gguf_context*, int64_t) = nullptr;
  int (*get_kv_type)(const gguf_context*, int64_t) = nullptr;
  uint32_t (*get_val_u32)(const gguf_context*, int64_t) = nullptr;
  float (*get_val_f32)(const gguf_context*, int64_t) = nullptr;
  const char* (*get_val_str)(const gguf_context*, int64_t) = nullptr;
  size_t (*get_arr_n)(const gguf_context*, int64_t) = nullptr;
  int (*get_arr_type)(const gguf_context*, int64_t) = nullptr;
  const char* (*get_arr_str)(const gguf_context*, int64_t, size_t) = nullptr;
  const void* (*get_arr_data)(const gguf_context*, int64_t) = nullptr;
  int64_t (*get_n_tensors)(const gguf_context*) = nullptr;
  const char* (*get_tensor_name)(const gguf_context*, int64_t) = nullptr;
  int (*get_tensor_type)(const gguf_context*, int64_t) = nullptr;
  size_t (*get_tensor_offset)(const gguf_context*, int64_t) = nullptr;
  size_t (*get_tensor_size)(const gguf_context*, int64_t) = nullptr;
  size_t (*get_data_offset)(const gguf_context*) = nullptr;
  gguf_context* (*init_empty)() = nullptr;
  void (*set_val_u32)(gguf_context*, const char*, uint32_t) = nullptr;
  void (*set_val_str)(gguf_context*, const char*, const char*) = nullptr;
  void (*set_arr_str)(gguf_context*, const char*, const char**, size_t) = nullptr;
  void (*set_arr_data)(gguf_context*, const char*, int, const void*, size_t) = nullptr;
  void (*add_tensor)(gguf_context*, const ggml_tensor*) = nullptr;
  bool (*write_to_file)(const gguf_context*, const char*, bool) = nullptr;
  ggml_context* (*init)(GgmlInitParams) = nullptr;
  void (*free)(ggml_context*) = nullptr;
  ggml_tensor* (*new_tensor_2d)(ggml_context*, int, int64_t, int64_t) = nullptr;
  ggml_tensor* (*set_name)(ggml_tensor*, const char*) = nullptr;
  void* (*get_data)(const ggml_tensor*) = nullptr;

  template <typename F>
  void bind(F& f, const char* name) {
    f = reinterpret_cast<F>(dlsym(handle, name));
    if (f == nullptr) missing += std::string(" ") + name;
  }
  std::string missing;
};

// The library named by PARE_GGML_LIB, or a skip reason.
const Ggml* load_ggml(std::string& why) {
  static Ggml g;  // test-only: the library stays loaded for the process
  if (g.handle != nullptr) return &g;
  const char* path = std::getenv("PARE_GGML_LIB");
  if (path == nullptr || *path == '\0') {
    why = "PARE_GGML_LIB is not set (see the top of gguf_llama_cpp_test.cpp)";
    return nullptr;
  }
  g.handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (g.handle == nullptr) {
    why = std::string("cannot load PARE_GGML_LIB: ") + dlerror();
    return nullptr;
  }
  g.bind(g.quantize_chunk, "ggml_quantize_chunk");
  g.bind(g.dequantize_row_q4_0, "dequantize_row_q4_0");
  g.bind(g.init_from_file, "gguf_init_from_file");
  g.bind(g.gguf_free, "gguf_free");
  g.bind(g.get_n_kv, "gguf_get_n_kv");
  g.bind(g.get_key, "gguf_get_key");
  g.bind(g.get_kv_type, "gguf_get_kv_type");
  g.bind(g.get_val_u32, "gguf_get_val_u32");
  g.bind(g.get_val_f32, "gguf_get_val_f32");
  g.bind(g.get_val_str, "gguf_get_val_str");
  g.bind(g.get_arr_n, "gguf_get_arr_n");
  g.bind(g.get_arr_type, "gguf_get_arr_type");
  g.bind(g.get_arr_str, "gguf_get_arr_str");
  g.bind(g.get_arr_data, "gguf_get_arr_data");
  g.bind(g.get_n_tensors, "gguf_get_n_tensors");
  g.bind(g.get_tensor_name, "gguf_get_tensor_name");
  g.bind(g.get_tensor_type, "gguf_get_tensor_type");
  g.bind(g.get_tensor_offset, "gguf_get_tensor_offset");
  g.bind(g.get_tensor_size, "gguf_get_tensor_size");
  g.bind(g.get_data_offset, "gguf_get_data_offset");
  g.bind(g.init_empty, "gguf_init_empty");
  g.bind(g.set_val_u32, "gguf_set_val_u32");
  g.bind(g.set_val_str, "gguf_set_val_str");
  g.bind(g.set_arr_str, "gguf_set_arr_str");
  g.bind(g.set_arr_data, "gguf_set_arr_data");
  g.bind(g.add_tensor, "gguf_add_tensor");
  g.bind(g.write_to_file, "gguf_write_to_file");
  g.bind(g.init, "ggml_init");
  g.bind(g.free, "ggml_free");
  g.bind(g.new_tensor_2d, "ggml_new_tensor_2d");
  g.bind(g.set_name, "ggml_set_name");
  g.bind(g.get_data, "ggml_get_data");
  if (!g.missing.empty()) {
    why = "PARE_GGML_LIB lacks:" + g.missing;
    return nullptr;
  }
  return &g;
}

#define PARE_NEED_GGML(g)              \
  std::string why_skip;                \
  const Ggml* g = load_ggml(why_skip); \
  if (g == nullptr) GTEST_SKIP() << why_skip

std::string temp_dir(const std::string& tag) {
  const std::string d = ::testing::TempDir() + "gguf_llama_cpp_" + tag + "_" + std::to_string(::getpid());
  std::filesystem::create_directories(d);
  return d;
}

// Rows of several kinds: normal, uniform, integers (Q8_0 halves and Q4_0 ties), repeated +-max (the sign tie),
// zeros, tiny and large magnitudes.
at::Tensor test_rows() {
  at::manual_seed(11);
  std::vector<at::Tensor> rows = {at::randn({4, 256}),
                                  at::rand({2, 256}) * 2 - 1,
                                  at::randint(-20, 21, {2, 256}).to(at::kFloat) / 2,
                                  at::randint(-8, 9, {2, 256}).to(at::kFloat),
                                  at::zeros({1, 256}),
                                  at::randn({1, 256}) * 1e-20,
                                  at::randn({1, 256}) * 1e4};
  at::Tensor ties = at::randn({1, 256});
  ties.index_put_({0, at::indexing::Slice(0, 256, 32)}, 3.0f);
  ties.index_put_({0, at::indexing::Slice(1, 256, 32)}, -3.0f);
  rows.push_back(ties);
  return at::cat(rows).contiguous();
}

TEST(GgufLlamaCpp, QuantizedBytesEqualGgmlReference) {
  PARE_NEED_GGML(g);
  const at::Tensor x = test_rows();
  for (formats::GgmlType type : {formats::GgmlType::Q8_0, formats::GgmlType::Q4_0}) {
    const int64_t rows = x.size(0), cols = x.size(1);
    std::string theirs(static_cast<size_t>(formats::ggml_bytes(type, x.numel())), '\0');
    const size_t n =
        g->quantize_chunk(static_cast<int>(type), x.data_ptr<float>(), theirs.data(), 0, rows, cols, nullptr);
    ASSERT_EQ(n, theirs.size());
    GgufWriter w;
    w.add_tensor("w", x, type);
    std::ostringstream out;
    w.write(out);
    const std::string bytes = out.str();
    const GgufFile f = GgufFile::from_bytes(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "pare");
    const GgufBytes ours = f.raw("w");
    ASSERT_EQ(ours.size, theirs.size());
    const size_t block = static_cast<size_t>(formats::ggml_type_traits(type).type_size);
    size_t differing = 0;
    for (size_t b = 0; b < ours.size / block; ++b)
      differing += std::memcmp(ours.data + b * block, theirs.data() + b * block, block) != 0;
    EXPECT_EQ(differing, 0u) << formats::ggml_type_traits(type).name << ": blocks that differ from ggml's, of "
                             << ours.size / block;
  }
}

TEST(GgufLlamaCpp, GgmlReadsPareFile) {
  PARE_NEED_GGML(g);
  const std::string dir = temp_dir("read"), path = dir + "/pare.gguf";
  at::manual_seed(5);
  GgufWriter w;
  w.set("general.architecture", "llama");
  w.set("llama.block_count", uint32_t{2});
  w.set("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  w.set("tokenizer.ggml.tokens", GgufValue::array(std::vector<std::string>{"<unk>", "<s>", "a b"}));
  w.set("tokenizer.ggml.scores", GgufValue::array(std::vector<float>{0.0f, -1.0f, -2.5f}));
  w.add_tensor("token_embd.weight", at::randn({3, 64}), formats::GgmlType::Q4_0);
  w.add_tensor("blk.0.attn_q.weight", at::randn({64, 64}), formats::GgmlType::Q8_0);
  w.add_tensor("blk.0.attn_norm.weight", at::randn({64}), formats::GgmlType::F32);
  w.add_tensor("blk.0.ffn_up.weight", at::randn({5, 64}), formats::GgmlType::F16);
  w.add_tensor("output.weight", at::randn({3, 64}), formats::GgmlType::BF16);
  w.write(path);
  const GgufFile f = GgufFile::open(path);

  gguf_context* ctx = g->init_from_file(path.c_str(), GgufInitParams{true, nullptr});
  ASSERT_NE(ctx, nullptr) << "ggml's gguf reader refused pare's file";
  ASSERT_EQ(g->get_n_kv(ctx), static_cast<int64_t>(f.metadata().size()));
  for (int64_t i = 0; i < g->get_n_kv(ctx); ++i) {
    const auto& [key, value] = f.metadata()[static_cast<size_t>(i)];
    EXPECT_EQ(g->get_key(ctx, i), key);
    EXPECT_EQ(g->get_kv_type(ctx, i), static_cast<int>(value.type())) << key;
  }
  EXPECT_STREQ(g->get_val_str(ctx, 0), "llama");
  EXPECT_EQ(g->get_val_u32(ctx, 1), 2u);
  EXPECT_EQ(g->get_val_f32(ctx, 2), 1e-5f);
  ASSERT_EQ(g->get_arr_n(ctx, 3), 3u);
  EXPECT_STREQ(g->get_arr_str(ctx, 3, 2), "a b");
  ASSERT_EQ(g->get_arr_type(ctx, 4), static_cast<int>(GgufType::F32));
  EXPECT_EQ(static_cast<const float*>(g->get_arr_data(ctx, 4))[2], -2.5f);
  EXPECT_EQ(g->get_data_offset(ctx), f.data_offset());
  ASSERT_EQ(g->get_n_tensors(ctx), static_cast<int64_t>(f.tensors().size()));
  for (int64_t i = 0; i < g->get_n_tensors(ctx); ++i) {
    const GgufTensorInfo& t = f.tensors()[static_cast<size_t>(i)];
    EXPECT_EQ(g->get_tensor_name(ctx, i), t.name);
    EXPECT_EQ(g->get_tensor_type(ctx, i), static_cast<int>(t.type_id)) << t.name;
    EXPECT_EQ(g->get_tensor_offset(ctx, i), t.offset) << t.name;
    EXPECT_EQ(g->get_tensor_size(ctx, i), t.size_bytes) << t.name;
  }
  g->gguf_free(ctx);
  std::filesystem::remove_all(dir);
}

TEST(GgufLlamaCpp, PareReadsGgmlFile) {
  PARE_NEED_GGML(g);
  const std::string dir = temp_dir("write"), path = dir + "/ggml.gguf";
  at::manual_seed(6);
  const at::Tensor w = at::randn({3, 64}), b = at::randn({1, 5});
  ggml_context* tctx = g->init(GgmlInitParams{size_t{1} << 20, nullptr, false});
  ASSERT_NE(tctx, nullptr);
  ggml_tensor* tw = g->new_tensor_2d(tctx, static_cast<int>(formats::GgmlType::Q4_0), 64, 3);
  g->set_name(tw, "blk.0.attn_k.weight");
  g->quantize_chunk(static_cast<int>(formats::GgmlType::Q4_0), w.data_ptr<float>(), g->get_data(tw), 0, 3, 64, nullptr);
  ggml_tensor* tb = g->new_tensor_2d(tctx, static_cast<int>(formats::GgmlType::F32), 5, 1);
  g->set_name(tb, "blk.0.attn_k.bias");
  std::memcpy(g->get_data(tb), b.data_ptr<float>(), 5 * sizeof(float));
  gguf_context* ctx = g->init_empty();
  g->set_val_str(ctx, "general.architecture", "llama");
  g->set_val_u32(ctx, "llama.context_length", 4096);
  const char* tokens[] = {"<unk>", "\xe2\x96\x81hello"};
  g->set_arr_str(ctx, "tokenizer.ggml.tokens", tokens, 2);
  const int32_t types[] = {2, 1};
  g->set_arr_data(ctx, "tokenizer.ggml.token_type", static_cast<int>(GgufType::I32), types, 2);
  g->add_tensor(ctx, tw);
  g->add_tensor(ctx, tb);
  ASSERT_TRUE(g->write_to_file(ctx, path.c_str(), false));
  g->gguf_free(ctx);

  const GgufFile f = GgufFile::open(path);
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_u32("llama.context_length"), 4096u);
  EXPECT_EQ(f.get_strings("tokenizer.ggml.tokens"), (std::vector<std::string>{"<unk>", "\xe2\x96\x81hello"}));
  EXPECT_EQ(f.get_array<int32_t>("tokenizer.ggml.token_type"), (std::vector<int32_t>{2, 1}));
  EXPECT_EQ(f.tensor_info("blk.0.attn_k.weight").shape(), (std::vector<int64_t>{3, 64}));
  const GgufBytes raw = f.raw("blk.0.attn_k.weight");
  ASSERT_EQ(raw.size, 3u * 2 * sizeof(formats::BlockQ4_0));
  EXPECT_EQ(std::memcmp(raw.data, g->get_data(tw), raw.size), 0);
  std::vector<float> theirs(3 * 64);
  g->dequantize_row_q4_0(g->get_data(tw), theirs.data(), 3 * 64);
  EXPECT_TRUE(at::equal(f.tensor_f32("blk.0.attn_k.weight"), at::from_blob(theirs.data(), {3, 64}).clone()));
  // ggml writes n_dims without trailing 1s (ggml_n_dims): ne (5, 1) is stored as [5].
  EXPECT_TRUE(at::equal(f.tensor_f32("blk.0.attn_k.bias"), b.reshape({5})));
  g->free(tctx);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace pare::io
