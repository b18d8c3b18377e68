// GGUF: the ggml block formats (hand-computed Q8_0/Q4_0 blocks, round-trip error bounds), writer/reader round
// trips of every metadata type and tensor type, the writer's exact byte layout, and every reader/writer error.
#include "pare/io/gguf.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <limits>
#include <sstream>

#include "pare/error.h"

namespace pare::io {
namespace {

// ---- helpers ----

// A GGUF file built by hand, field by field, to make broken ones.
struct Bytes {
  std::string b;
  Bytes& u32(uint32_t v) {
    b.append(reinterpret_cast<const char*>(&v), 4);
    return *this;
  }
  Bytes& u64(uint64_t v) {
    b.append(reinterpret_cast<const char*>(&v), 8);
    return *this;
  }
  Bytes& str(const std::string& s) {
    u64(s.size());
    b += s;
    return *this;
  }
  Bytes& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    b += "GGUF";
    u32(version);
    u64(n_tensors);
    return u64(n_kv);
  }
  Bytes& kv_u32(const std::string& key, uint32_t v) {
    str(key);
    u32(static_cast<uint32_t>(GgufType::U32));
    return u32(v);
  }
  Bytes& tensor(const std::string& name, const std::vector<uint64_t>& ne, uint32_t type, uint64_t offset) {
    str(name);
    u32(static_cast<uint32_t>(ne.size()));
    for (uint64_t d : ne) u64(d);
    u32(type);
    return u64(offset);
  }
  Bytes& pad(size_t alignment = 32) {
    while (b.size() % alignment != 0) b += '\0';
    return *this;
  }
  Bytes& zeros(size_t n) {
    b.append(n, '\0');
    return *this;
  }
};

GgufFile parse(const std::string& b) {
  return GgufFile::from_bytes(reinterpret_cast<const uint8_t*>(b.data()), b.size(), "test.gguf");
}

std::string bytes_of(const GgufWriter& w) {
  std::ostringstream out;
  w.write(out);
  return out.str();
}

// The message of the Error that parsing `b` throws ("(no error)" when it parses).
std::string error_of(const std::string& b) {
  try {
    parse(b);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

void expect_error(const std::string& message, const std::vector<std::string>& needles) {
  for (const auto& n : needles)
    EXPECT_NE(message.find(n), std::string::npos) << "missing '" << n << "' in:\n" << message;
}

template <typename F>
std::string error_from(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

std::vector<uint8_t> block_bytes(const void* p, size_t n) {
  const auto* u = static_cast<const uint8_t*>(p);
  return {u, u + n};
}

// ---- the type table ----

TEST(GgufTypes, TraitsTableMatchesGgml) {
  EXPECT_EQ(formats::ggml_type_traits(formats::GgmlType::Q4_0).block_size, 32);
  EXPECT_EQ(formats::ggml_type_traits(formats::GgmlType::Q4_0).type_size, 18);
  EXPECT_EQ(formats::ggml_type_traits(formats::GgmlType::Q8_0).type_size, 34);
  EXPECT_EQ(formats::ggml_type_traits(formats::GgmlType::F16).type_size, 2);
  EXPECT_EQ(formats::ggml_type_traits(formats::GgmlType::BF16).type_size, 2);
  EXPECT_EQ(formats::ggml_type_traits(formats::GgmlType::Q4_K).block_size, 256);
  EXPECT_EQ(formats::ggml_type_traits(formats::GgmlType::Q4_K).type_size, 144);
  EXPECT_EQ(formats::ggml_type_traits(formats::GgmlType::Q6_K).type_size, 210);
  EXPECT_EQ(formats::ggml_type_traits(4u), nullptr);  // Q4_2, retired
  EXPECT_EQ(formats::ggml_type_traits(77u), nullptr);
  EXPECT_EQ(formats::ggml_type_name(8), "Q8_0");
  EXPECT_EQ(formats::ggml_type_name(77), "unknown type 77");
  EXPECT_EQ(formats::ggml_type_from_name("q4_0"), formats::GgmlType::Q4_0);
  EXPECT_EQ(formats::ggml_type_from_name("bf16"), formats::GgmlType::BF16);
  EXPECT_FALSE(formats::ggml_type_from_name("q4_3").has_value());
  EXPECT_EQ(formats::ggml_decodable_types(), "F32, F16, BF16, Q8_0, Q4_0");
  EXPECT_EQ(formats::ggml_bytes(formats::GgmlType::Q4_0, 64), 36);
}

TEST(GgufTypes, HalfAndBfloat16RoundToNearestEven) {
  EXPECT_EQ(formats::fp32_to_fp16(1.0f), 0x3C00);
  EXPECT_EQ(formats::fp32_to_fp16(-1.0f), 0xBC00);
  EXPECT_EQ(formats::fp32_to_fp16(0.1f), 0x2E66);  // 0.0999755859375, the nearer of 0x2E66 and 0x2E67
  EXPECT_EQ(formats::fp32_to_fp16(65504.0f), 0x7BFF);
  EXPECT_EQ(formats::fp32_to_fp16(1.0f + 1.0f / 2048), 0x3C00);  // a tie between 0x3C00 and 0x3C01: to even
  EXPECT_EQ(formats::fp16_to_fp32(0x3555), 0.333251953125f);
  EXPECT_EQ(formats::fp32_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(formats::fp32_to_bf16(1.0f + 1.0f / 256), 0x3F80);  // tie (bit 16 even): down
  EXPECT_EQ(formats::fp32_to_bf16(1.0f + 3.0f / 256), 0x3F82);  // tie (bit 16 odd): up
  EXPECT_EQ(formats::bf16_to_fp32(0xC040), -3.0f);
}

// ---- hand-computed blocks ----

// Q8_0, d = 1: amax = 127 so d = 127/127 = 1.0 (fp16 0x3C00, stored little-endian: 00 3C) and id = 1; each
// q = roundf(x), half away from zero: 2.5 -> 3, -2.5 -> -3 (0xFD), 0.49 -> 0, 100.7 -> 101 (0x65),
// x[j] = j - 16 for j >= 5 gives q = j - 16 (two's complement bytes F5 ... 0F).
TEST(GgufQ8_0, HandComputedBlock) {
  float x[32] = {-127.0f, 2.5f, -2.5f, 0.49f, 100.7f};
  for (int j = 5; j < 32; ++j) x[j] = static_cast<float>(j - 16);
  formats::BlockQ8_0 b;
  formats::quantize_row_q8_0_ref(x, &b, 32);
  const std::vector<uint8_t> expected = {0x00, 0x3C, 0x81, 0x03, 0xFD, 0x00, 0x65, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9,
                                         0xFA, 0xFB, 0xFC, 0xFD, 0xFE, 0xFF, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05,
                                         0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F};
  EXPECT_EQ(block_bytes(&b, sizeof b), expected);
  float y[32];
  formats::dequantize_row_q8_0(&b, y, 32);
  EXPECT_EQ(y[0], -127.0f);
  EXPECT_EQ(y[1], 3.0f);
  EXPECT_EQ(y[4], 101.0f);
}

// Q8_0 with d = 12.7/127 = 0.1: fp16(0.1) = 0x2E66 (0.0999756; 0x2E67 = 0.1000366 is farther). The q use the fp32
// d (id = 10): 12.7 -> 127, 0.31 -> 3.1 -> 3, -0.46 -> -4.6 -> -5, 1.04 -> 10.4 -> 10, 0 -> 0.
TEST(GgufQ8_0, ScaleIsStoredAsFp16ButQuantizedWithFp32) {
  float x[32] = {12.7f, 0.31f, -0.46f, 1.04f};
  formats::BlockQ8_0 b;
  formats::quantize_row_q8_0_ref(x, &b, 32);
  EXPECT_EQ(b.d, 0x2E66);
  EXPECT_EQ(b.qs[0], 127);
  EXPECT_EQ(b.qs[1], 3);
  EXPECT_EQ(b.qs[2], -5);
  EXPECT_EQ(b.qs[3], 10);
  for (int j = 4; j < 32; ++j) EXPECT_EQ(b.qs[j], 0);
}

// Q4_0, first block: the value of largest magnitude is max = -8, so d = max / -8 = 1.0 (00 3C), id = 1, and
// q = min(15, trunc(x + 8.5)): -8 -> 0, 7 -> 15, 7.9 -> 16 -> 15 (clamped), 0 -> 8, 0.5 -> 9 and -0.5 -> 8
// (halves round up), 3.2 -> 11, -7.6 -> 0, -3.7 -> 4, 1..6 -> 9..14, -1 -> 7; second half: -7..-2 -> 1..6,
// 2.5 -> 11, -2.5 -> 6, 6.49 -> 14, 6.5 -> 15, -7.99 -> 0, 1.25 -> 9, -1.25 -> 7, 0.1 -> 8, -0.1 -> 8,
// 4.75 -> 13. Byte j = q[j] | q[j + 16] << 4, e.g. byte 0 = 0 | 1 << 4 = 0x10, byte 1 = 15 | 2 << 4 = 0x2F.
// Second block: 8 and -8 tie in magnitude; the first (8) wins, so d = 8 / -8 = -1 (00 BC), id = -1: 8 -> -8 + 8.5
// -> 0, -8 -> 16.5 -> 15 (clamped), 4 -> 4.5 -> 4, 0 -> 8; bytes 0x80, 0x8F, 0x84, then 0x88.
TEST(GgufQ4_0, HandComputedBlocks) {
  float x[64] = {-8.0f, 7.0f, 7.9f,   0.0f,  0.5f,   -0.5f, 3.2f,  -7.6f, -3.7f, 1.0f,  2.0f, 3.0f,
                 4.0f,  5.0f, 6.0f,   -1.0f, -7.0f,  -6.0f, -5.0f, -4.0f, -3.0f, -2.0f, 2.5f, -2.5f,
                 6.49f, 6.5f, -7.99f, 1.25f, -1.25f, 0.1f,  -0.1f, 4.75f, 8.0f,  -8.0f, 4.0f};
  formats::BlockQ4_0 b[2];
  formats::quantize_row_q4_0_ref(x, b, 64);
  const std::vector<uint8_t> first = {0x00, 0x3C, 0x10, 0x2F, 0x3F, 0x48, 0x59, 0x68, 0xBB,
                                      0x60, 0xE4, 0xF9, 0x0A, 0x9B, 0x7C, 0x8D, 0x8E, 0xD7};
  std::vector<uint8_t> second = {0x00, 0xBC, 0x80, 0x8F, 0x84};
  second.resize(18, 0x88);
  EXPECT_EQ(block_bytes(&b[0], sizeof b[0]), first);
  EXPECT_EQ(block_bytes(&b[1], sizeof b[1]), second);
  float y[64];
  formats::dequantize_row_q4_0(b, y, 64);
  EXPECT_EQ(y[0], -8.0f);   // (0 - 8) * 1
  EXPECT_EQ(y[2], 7.0f);    // clamped: 7.9 -> 7
  EXPECT_EQ(y[32], 8.0f);   // (0 - 8) * -1
  EXPECT_EQ(y[33], -7.0f);  // clamped: -8 -> (15 - 8) * -1
  EXPECT_EQ(y[34], 4.0f);
}

TEST(GgufQ4_0, ZeroBlockQuantizesToEight) {
  float x[32] = {};
  formats::BlockQ4_0 b;
  formats::quantize_row_q4_0_ref(x, &b, 32);
  EXPECT_EQ(b.d, 0x8000);                     // d = max / -8 = 0 / -8 = -0.0, as llama.cpp stores it
  for (uint8_t q : b.qs) EXPECT_EQ(q, 0x88);  // id = 0: q = trunc(0 + 8.5) = 8
}

// ---- dequantize(quantize(x)) error bounds ----

// Per block, with d the fp32 scale and fp16 rounding of d at most 2^-11 relative: Q8_0 |x - x'| <= d/2 + 127 d 2^-11
// (d = amax/127); Q4_0 |x - x'| <= |d| (the clamp of -max) + 8 |d| 2^-11 (|d| = amax/8), and <= |d|/2 + ... elsewhere.
TEST(GgufQuant, RoundTripErrorBounds) {
  at::manual_seed(7);
  const at::Tensor x = at::randn({16, 256}) * at::linspace(0.01, 3.0, 16).unsqueeze(1);
  const int64_t n = x.numel();
  std::vector<formats::BlockQ8_0> q8(n / 32);
  std::vector<formats::BlockQ4_0> q4(n / 32);
  formats::quantize_row_q8_0_ref(x.data_ptr<float>(), q8.data(), n);
  formats::quantize_row_q4_0_ref(x.data_ptr<float>(), q4.data(), n);
  at::Tensor y8 = at::empty_like(x), y4 = at::empty_like(x);
  formats::dequantize_row_q8_0(q8.data(), y8.data_ptr<float>(), n);
  formats::dequantize_row_q4_0(q4.data(), y4.data_ptr<float>(), n);
  const at::Tensor xb = x.reshape({-1, 32});
  const at::Tensor amax = xb.abs().amax(1, true);
  const at::Tensor e8 = (y8.reshape({-1, 32}) - xb).abs(), e4 = (y4.reshape({-1, 32}) - xb).abs();
  const float slack = 1e-5f;
  EXPECT_TRUE((e8 <= amax / 127 * (0.5 + 127.0 / 2048) + slack).all().item<bool>());
  EXPECT_TRUE((e4 <= amax / 8 * (1.0 + 8.0 / 2048) + slack).all().item<bool>());
  // Away from the clamp, Q4_0 rounds to nearest: errors above |d|/2 are rare.
  EXPECT_LT((e4 > amax / 8 * (0.5 + 8.0 / 2048) + slack).sum().item<int64_t>(), n / 32 * 2);
  EXPECT_LT(e8.mean().item<float>(), e4.mean().item<float>() / 8);
}

// ---- writer layout ----

// One u32 key and one F32 tensor [1]: 24 header bytes, the entry "a" (8 + 1 + 4 + 4 = 17), the tensor info
// "t" (8 + 1 + 4 + 8 + 4 + 8 = 33): 74 bytes, padded to 96; the data 1.5f (00 00 C0 3F) padded to 128.
TEST(GgufWriter, ByteLayoutFollowsTheSpec) {
  GgufWriter w;
  w.set("a", uint32_t{7});
  w.add_tensor("t", at::full({1}, 1.5f), formats::GgmlType::F32);
  Bytes e;
  e.header(1, 1).kv_u32("a", 7).tensor("t", {1}, 0, 0).pad();
  EXPECT_EQ(e.b.size(), 96u);
  e.b += std::string("\x00\x00\xc0\x3f", 4);
  e.pad();
  EXPECT_EQ(bytes_of(w), e.b);
}

// ---- round trips ----

TEST(GgufRoundTrip, EveryMetadataType) {
  const std::vector<std::pair<std::string, GgufValue>> kv = {
      {"t.u8", uint8_t{200}},
      {"t.i8", int8_t{-100}},
      {"t.u16", uint16_t{60000}},
      {"t.i16", int16_t{-30000}},
      {"t.u32", uint32_t{4000000000u}},
      {"t.i32", int32_t{-2000000000}},
      {"t.u64", uint64_t{1} << 60},
      {"t.i64", -(int64_t{1} << 60)},
      {"t.f32", 0.1f},
      {"t.f64", 0.1},
      {"t.bool", true},
      {"t.str", "llama \xe2\x9c\x93"},
      {"t.empty_str", ""},
      {"t.arr_u8", GgufValue::array(std::vector<uint8_t>{1, 2, 255})},
      {"t.arr_i8", GgufValue::array(std::vector<int8_t>{-1, 2})},
      {"t.arr_u16", GgufValue::array(std::vector<uint16_t>{65535})},
      {"t.arr_i16", GgufValue::array(std::vector<int16_t>{-2, 3})},
      {"t.arr_u32", GgufValue::array(std::vector<uint32_t>{1, 2, 3})},
      {"t.arr_i32", GgufValue::array(std::vector<int32_t>{-1, 0, 1})},
      {"t.arr_u64", GgufValue::array(std::vector<uint64_t>{uint64_t{1} << 63})},
      {"t.arr_i64", GgufValue::array(std::vector<int64_t>{-5})},
      {"t.arr_f32", GgufValue::array(std::vector<float>{0.5f, -1e30f})},
      {"t.arr_f64", GgufValue::array(std::vector<double>{1e300})},
      {"t.arr_bool", GgufValue::array(std::vector<bool>{true, false, true})},
      {"t.arr_str", GgufValue::array(std::vector<std::string>{"<unk>", "", "\xe2\x96\x81the"})},
      {"t.arr_empty", GgufValue::array(std::vector<float>{})},
      {"t.arr_arr", GgufValue::array_of_arrays({GgufValue::array(std::vector<std::string>{"a", "b"}),
                                                GgufValue::array(std::vector<int32_t>{7})})},
  };
  GgufWriter w;
  w.set("t.u8", uint8_t{1});  // replaced below: a key set again keeps its first position
  for (const auto& [k, v] : kv) w.set(k, v);
  const GgufFile f = parse(bytes_of(w));
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.metadata(), kv);  // same order, types and values; no tensors: no quantization_version
  EXPECT_EQ(f.at("t.u8").get<uint8_t>(), 200);
  EXPECT_EQ(f.get_u32("t.u32"), 4000000000u);
  EXPECT_EQ(f.get_i32("t.i32"), -2000000000);
  EXPECT_EQ(f.get_u64("t.u64"), uint64_t{1} << 60);
  EXPECT_EQ(f.get_f32("t.f32"), 0.1f);
  EXPECT_EQ(f.at("t.f64").get<double>(), 0.1);
  EXPECT_TRUE(f.get_bool("t.bool"));
  EXPECT_EQ(f.get_string("t.str"), "llama \xe2\x9c\x93");
  EXPECT_EQ(f.get_array<int16_t>("t.arr_i16"), (std::vector<int16_t>{-2, 3}));
  EXPECT_EQ(f.get_array<double>("t.arr_f64"), (std::vector<double>{1e300}));
  EXPECT_EQ(f.get_array<bool>("t.arr_bool"), (std::vector<bool>{true, false, true}));
  EXPECT_EQ(f.get_strings("t.arr_str"), (std::vector<std::string>{"<unk>", "", "\xe2\x96\x81the"}));
  EXPECT_EQ(f.at("t.arr_empty").size(), 0u);
  EXPECT_EQ(f.at("t.arr_empty").element_type(), GgufType::F32);
  const auto& nested = f.at("t.arr_arr").arrays();
  ASSERT_EQ(nested.size(), 2u);
  EXPECT_EQ(nested[0].strings(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(nested[1].numbers<int32_t>(), (std::vector<int32_t>{7}));
  EXPECT_EQ(f.at("t.arr_arr").type_string(), "arr[arr,2]");
  EXPECT_EQ(f.at("t.arr_str").type_string(), "arr[str,3]");
  EXPECT_EQ(f.get_uint("t.u16"), 60000u);
  expect_error(error_from([&] { f.get_uint("t.i64"); }), {"'t.i64' is not a non-negative integer"});
}

TEST(GgufRoundTrip, TextOfValues) {
  EXPECT_EQ(GgufValue(uint32_t{32}).text(), "32");
  EXPECT_EQ(GgufValue(0.5f).text(), "0.5");
  EXPECT_EQ(GgufValue("a\nb").text(), "\"a\\nb\"");
  EXPECT_EQ(GgufValue::array(std::vector<int32_t>{1, 2, 3}).text(2), "[1, 2, ... (3 items)]");
  EXPECT_EQ(GgufValue(std::string(100, 'x')).text(8, 4), "\"xxxx\"... (100 bytes)");
}

// Tensors of every writable type and 1 to 4 dimensions: shapes come back in PyTorch order with ne reversed,
// offsets aligned; F32 exact, F16/BF16 as torch converts, Q8_0/Q4_0 exactly the reference blocks.
TEST(GgufRoundTrip, EveryTensorType) {
  at::manual_seed(3);
  const at::Tensor a = at::randn({3, 64}), b = at::randn({64}), c = at::randn({2, 3, 32}), d = at::randn({1, 2, 1, 32});
  GgufWriter w;
  w.set("general.architecture", "test");
  w.add_tensor("f32", a, formats::GgmlType::F32);
  w.add_tensor("f16", b, formats::GgmlType::F16);
  w.add_tensor("bf16", c, formats::GgmlType::BF16);
  w.add_tensor("q8_0", a, formats::GgmlType::Q8_0);
  w.add_tensor("q4_0", d, formats::GgmlType::Q4_0);
  w.add_tensor("f16_from_double", b.to(at::kDouble), formats::GgmlType::F16);
  const GgufFile f = parse(bytes_of(w));
  ASSERT_EQ(f.tensors().size(), 6u);
  EXPECT_EQ(f.get_u32("general.quantization_version"), 2u);  // added: the file holds quantized tensors
  EXPECT_EQ(f.metadata().back().first, "general.quantization_version");
  const GgufTensorInfo& ti = f.tensor_info("f32");
  EXPECT_EQ(ti.ne, (std::vector<int64_t>{64, 3}));
  EXPECT_EQ(ti.shape(), (std::vector<int64_t>{3, 64}));
  EXPECT_EQ(ti.type(), formats::GgmlType::F32);
  EXPECT_EQ(ti.size_bytes, 3u * 64 * 4);
  for (const auto& t : f.tensors()) {
    EXPECT_EQ(t.offset % 32, 0u) << t.name;
    EXPECT_EQ((f.data_offset() + t.offset) % 32, 0u) << t.name;
  }
  EXPECT_TRUE(at::equal(f.tensor_f32("f32"), a));
  EXPECT_TRUE(at::equal(f.tensor_f32("f16"), b.to(at::kHalf).to(at::kFloat)));
  EXPECT_TRUE(at::equal(f.tensor_f32("f16_from_double"), b.to(at::kHalf).to(at::kFloat)));
  EXPECT_TRUE(at::equal(f.tensor_f32("bf16"), c.to(at::kBFloat16).to(at::kFloat)));
  EXPECT_EQ(f.tensor_f32("bf16").sizes(), c.sizes());
  EXPECT_EQ(f.tensor_info("q4_0").ne, (std::vector<int64_t>{32, 1, 2, 1}));
  EXPECT_EQ(f.tensor_f32("q4_0").sizes(), d.sizes());

  std::vector<formats::BlockQ8_0> q8(3 * 64 / 32);
  formats::quantize_row_q8_0_ref(a.data_ptr<float>(), q8.data(), a.numel());
  const GgufBytes r8 = f.raw("q8_0");
  ASSERT_EQ(r8.size, q8.size() * sizeof(formats::BlockQ8_0));
  EXPECT_EQ(std::memcmp(r8.data, q8.data(), r8.size), 0);
  std::vector<float> y8(a.numel());
  formats::dequantize_row_q8_0(q8.data(), y8.data(), a.numel());
  EXPECT_TRUE(at::equal(f.tensor_f32("q8_0"), at::from_blob(y8.data(), {3, 64}).clone()));
  std::vector<formats::BlockQ4_0> q4(2);
  formats::quantize_row_q4_0_ref(d.data_ptr<float>(), q4.data(), d.numel());
  const GgufBytes r4 = f.raw("q4_0");
  ASSERT_EQ(r4.size, 36u);
  EXPECT_EQ(std::memcmp(r4.data, q4.data(), r4.size), 0);
}

TEST(GgufRoundTrip, FileOnDiskWithCustomAlignment) {
  const std::string dir = ::testing::TempDir() + "gguf_rt_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/m.gguf";
  GgufWriter w;
  w.set("general.alignment", uint32_t{64});
  w.set("general.name", "tiny");
  w.add_tensor("w", at::arange(96, at::kFloat).reshape({3, 32}), formats::GgmlType::Q8_0);
  w.add_tensor("b", at::ones({3}), formats::GgmlType::F32);
  w.write(path);
  const GgufFile f = GgufFile::open(path);
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.data_offset() % 64, 0u);
  EXPECT_EQ(f.tensor_info("b").offset, 128u);  // 3 Q8_0 blocks (102 bytes) padded to 128
  EXPECT_EQ(f.file_bytes(), f.data_offset() + 192);
  // Q8_0 error <= d/2 + 127 d 2^-11 with d = 95/127 in the last row.
  EXPECT_TRUE(at::allclose(f.tensor_f32("w"), at::arange(96, at::kFloat).reshape({3, 32}), 0, 0.45));
  EXPECT_TRUE(at::equal(f.tensor_f32("b"), at::ones({3})));
  // The writer refuses to replace its own input, and leaves no temporary file behind.
  expect_error(error_from([&] { w.write(path, {path}); }), {"m.gguf", "refusing to overwrite an input file"});
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator()), 1);
  std::filesystem::remove_all(dir);
}

// Deferred tensors are made inside write(), once each, and give the same bytes as eager ones.
TEST(GgufRoundTrip, DeferredTensorsAreMadeDuringWrite) {
  at::manual_seed(4);
  const at::Tensor a = at::randn({2, 64});
  int calls = 0;
  GgufWriter w;
  w.add_tensor_deferred("a", {2, 64}, formats::GgmlType::Q4_0, [&] {
    ++calls;
    return a;
  });
  w.add_tensor("b", at::ones({3}), formats::GgmlType::F32);
  EXPECT_EQ(calls, 0);
  GgufWriter eager;
  eager.add_tensor("a", a, formats::GgmlType::Q4_0);
  eager.add_tensor("b", at::ones({3}), formats::GgmlType::F32);
  EXPECT_EQ(bytes_of(w), bytes_of(eager));
  EXPECT_EQ(calls, 1);
  GgufWriter wrong;
  wrong.add_tensor_deferred("c", {2, 64}, formats::GgmlType::F32, [] { return at::zeros({64, 2}); });
  expect_error(error_from([&] { bytes_of(wrong); }),
               {"tensor 'c'", "another shape than declared", "expected: [2, 64]", "got:      [64, 2]"});
  expect_error(error_from([&] {
                 wrong.add_tensor_deferred("d", {3, 33}, formats::GgmlType::Q8_0, [] { return at::Tensor(); });
               }),
               {"tensor 'd'", "not a multiple of the Q8_0 block size"});
}

TEST(GgufRoundTrip, ParsesVersion2) {
  Bytes b;
  b.header(1, 1, 2).kv_u32("k", 5).tensor("t", {2}, 0, 0).pad().zeros(8);
  const GgufFile f = parse(b.b);
  EXPECT_EQ(f.version(), 2u);
  EXPECT_EQ(f.get_u32("k"), 5u);
  EXPECT_TRUE(at::equal(f.tensor_f32("t"), at::zeros({2})));
}

// ---- reader errors: each names the file and the key or tensor, with what was expected ----

TEST(GgufErrors, HeaderProblems) {
  expect_error(error_of(""), {"test.gguf", "GGUF file is empty"});
  expect_error(error_of("GGUX\x03\0\0\0"), {"test.gguf", "bad magic", "expected: the bytes 'GGUF'", "'GGUX'"});
  expect_error(error_of("GGUF\x03\0"), {"test.gguf", "GGUF header (version) runs past the end of the file"});
  expect_error(error_of(Bytes().header(0, 0, 1).b), {"unsupported GGUF version 1", "expected: version 2 or 3"});
  expect_error(error_of(Bytes().header(0, 0, 4).b), {"unsupported GGUF version 4", "upgrade pare"});
  expect_error(error_of(Bytes().header(0, 0, 0x03000000).b), {"looks byte-swapped", "big-endian"});
  expect_error(error_of(Bytes().header(uint64_t{1} << 40, 0).b),
               {"test.gguf", "tensor count is larger than the file could hold", "got:      1099511627776"});
  expect_error(error_of(Bytes().header(0, 1000).kv_u32("a", 1).b),
               {"metadata count is larger than the file could hold", "got:      1000"});
}

TEST(GgufErrors, MetadataProblems) {
  Bytes key_past_end;
  key_past_end.header(0, 1).u64(1000).zeros(20);
  expect_error(error_of(key_past_end.b), {"test.gguf", "key of metadata entry #0", "string length runs past the end"});
  Bytes str_past_end;
  str_past_end.header(0, 1).str("general.name").u32(8).u64(uint64_t{1} << 50).zeros(8);
  expect_error(error_of(str_past_end.b),
               {"metadata 'general.name'", "runs past the end of the file", "got:      1125899906842624 bytes"});
  Bytes absurd_array;
  absurd_array.header(0, 1).str("tokenizer.ggml.tokens").u32(9).u32(8).u64(uint64_t{1} << 50).zeros(16);
  expect_error(error_of(absurd_array.b), {"metadata 'tokenizer.ggml.tokens'", "array length is larger than the file",
                                          "got:      1125899906842624"});
  Bytes unknown_type;
  unknown_type.header(0, 1).str("general.x").u32(13).u32(0);
  expect_error(error_of(unknown_type.b), {"metadata 'general.x'", "unknown value type", "got:      13"});
  Bytes unknown_elem;
  unknown_elem.header(0, 1).str("a.b").u32(9).u32(42).u64(1).u32(0);
  expect_error(error_of(unknown_elem.b), {"metadata 'a.b'", "unknown array element type", "got:      42"});
  Bytes bad_bool;
  bad_bool.header(0, 1).str("a.flag").u32(7).b += '\x02';
  expect_error(error_of(bad_bool.b), {"metadata 'a.flag'", "bool value is neither 0 nor 1", "got:      2"});
  Bytes duplicate;
  duplicate.header(0, 2).kv_u32("a.k", 1).kv_u32("a.k", 2);
  expect_error(error_of(duplicate.b), {"metadata 'a.k'", "duplicate metadata key"});
  Bytes align_type;
  align_type.header(0, 1).str("general.alignment").u32(10).u64(32);
  expect_error(error_of(align_type.b), {"'general.alignment' has the wrong type", "expected: u32", "got:      u64"});
  Bytes align_value;
  align_value.header(0, 1).kv_u32("general.alignment", 48);
  expect_error(error_of(align_value.b), {"'general.alignment' is not a usable alignment", "got:      48"});
  Bytes deep;
  deep.header(0, 1).str("a.deep").u32(9);
  for (int i = 0; i < 10; ++i) deep.u32(9).u64(1);
  deep.u32(0).u64(0);
  expect_error(error_of(deep.b), {"metadata 'a.deep", "arrays nested too deeply"});
}

TEST(GgufErrors, TensorInfoProblems) {
  auto one = [](const std::vector<uint64_t>& ne, uint32_t type, uint64_t offset, size_t data) {
    Bytes b;
    b.header(1, 0).tensor("blk.0.attn_q.weight", ne, type, offset).pad().zeros(data);
    return error_of(b.b);
  };
  expect_error(one({}, 0, 0, 0),
               {"tensor 'blk.0.attn_q.weight'", "unsupported number of dimensions", "expected: 1 to 4", "got:      0"});
  expect_error(one({1, 1, 1, 1, 1}, 0, 0, 4), {"tensor 'blk.0.attn_q.weight'", "got:      5"});
  expect_error(one({uint64_t{1} << 40, uint64_t{1} << 40}, 0, 0, 0),
               {"tensor 'blk.0.attn_q.weight'", "tensor shape overflows", "ne = [1099511627776, 1099511627776]"});
  expect_error(one({0, uint64_t{1} << 63}, 0, 0, 0), {"dimension is implausibly large"});
  expect_error(one({32}, 77, 0, 64), {"test.gguf", "tensor 'blk.0.attn_q.weight'", "unknown ggml tensor type",
                                      "got:      type id 77", "F32, F16, BF16, Q8_0, Q4_0"});
  expect_error(one({33, 2}, 2, 0, 64), {"tensor 'blk.0.attn_q.weight'", "not a multiple of the Q4_0 block size",
                                        "expected: ne[0] divisible by 32", "got:      ne = [33, 2]"});
  expect_error(one({64, 2}, 2, 0, 70),
               {"tensor 'blk.0.attn_q.weight'", "tensor data runs past the end of the file", "expected: 72 bytes"});
  expect_error(one({2}, 0, 4, 64), {"tensor 'blk.0.attn_q.weight'", "not a multiple of the alignment",
                                    "expected: a multiple of 32", "got:      4"});
  expect_error(one({2}, 0, uint64_t{1} << 62, 64), {"tensor data runs past the end of the file"});

  Bytes overlap;
  overlap.header(2, 0).tensor("a", {16}, 0, 0).tensor("b", {8}, 0, 32).pad().zeros(96);
  expect_error(error_of(overlap.b),
               {"tensor 'b'", "overlaps another tensor's", "(the end of 'a')", "got:      offset 32"});
  Bytes duplicate;
  duplicate.header(2, 0).tensor("a", {8}, 0, 0).tensor("a", {8}, 0, 32).pad().zeros(64);
  expect_error(error_of(duplicate.b), {"tensor 'a'", "duplicate tensor name"});
  Bytes name_past_end;
  name_past_end.header(1, 0).u64(uint64_t{1} << 40).zeros(40);
  expect_error(error_of(name_past_end.b), {"name of tensor #0", "string length runs past the end"});
}

TEST(GgufErrors, DecodeAndLookupProblems) {
  Bytes b;
  b.header(1, 1).kv_u32("llama.block_count", 2).tensor("q4k", {256}, 12, 0).pad().zeros(144);
  const GgufFile f = parse(b.b);  // a type pare cannot decode still opens: info lists it
  EXPECT_EQ(f.tensor_info("q4k").size_bytes, 144u);
  expect_error(error_from([&] { f.tensor_f32("q4k"); }),
               {"test.gguf", "tensor 'q4k'", "cannot decode tensor type Q4_K", "got:      Q4_K (type id 12)"});
  expect_error(error_from([&] { f.tensor_f32("nope"); }), {"tensor 'nope'", "no such tensor"});
  expect_error(error_from([&] { f.get_string("general.name"); }), {"test.gguf", "metadata 'general.name' is missing"});
  expect_error(error_from([&] { f.get_string("llama.block_count"); }),
               {"metadata 'llama.block_count' has the wrong type", "expected: str", "got:      u32"});
  expect_error(error_from([&] { f.get_u64("llama.block_count"); }), {"expected: u64", "got:      u32"});
  EXPECT_EQ(f.get_uint("llama.block_count"), 2u);
  expect_error(error_from([&] { f.get_array<float>("llama.block_count"); }),
               {"metadata 'llama.block_count' has the wrong type", "expected: arr[f32]"});
}

TEST(GgufErrors, GetUintRefusesNegativeAndNonInteger) {
  GgufWriter w;
  w.set("a", int32_t{-1});
  w.set("b", 1.5f);
  const GgufFile f = parse(bytes_of(w));
  expect_error(error_from([&] { f.get_uint("a"); }), {"'a' is not a non-negative integer", "got:      i32 -1"});
  expect_error(error_from([&] { f.get_uint("b"); }), {"'b' is not a non-negative integer", "got:      f32 1.5"});
}

// ---- writer errors ----

TEST(GgufErrors, WriterRefusals) {
  GgufWriter w;
  expect_error(error_from([&] {
                 w.add_tensor("w", at::zeros({4, 33}), formats::GgmlType::Q4_0);
               }),
               {"tensor 'w'", "row length is not a multiple of the Q4_0 block size",
                "expected: a last dimension divisible by 32", "got:      shape [4, 33]"});
  expect_error(error_from([&] {
                 w.add_tensor("w", at::zeros({4, 48}), formats::GgmlType::Q8_0);
               }),
               {"Q8_0 block size"});
  at::Tensor nan = at::zeros({32});
  nan[3] = std::numeric_limits<float>::quiet_NaN();
  expect_error(error_from([&] { w.add_tensor("w", nan, formats::GgmlType::Q8_0); }),
               {"tensor 'w'", "holds NaN or Inf", "got:      1 non-finite values"});
  expect_error(error_from([&] { w.add_tensor("w", at::full({2}, 70000.0f), formats::GgmlType::F16); }),
               {"tensor 'w'", "values exceed the F16 range"});
  expect_error(error_from([&] { w.add_tensor("w", at::full({32}, 1e6f), formats::GgmlType::Q4_0); }),
               {"tensor 'w'", "too large for the block's fp16 scale"});
  expect_error(error_from([&] { w.add_tensor("w", at::zeros({256}), formats::GgmlType::Q4_K); }),
               {"tensor 'w'", "cannot write GGUF tensor type Q4_K", "F32, F16, BF16, Q8_0, Q4_0"});
  expect_error(error_from([&] { w.add_tensor("w", at::zeros({2}, at::kInt), formats::GgmlType::F32); }),
               {"must be a floating-point tensor", "got:      Int"});
  expect_error(error_from([&] { w.add_tensor(std::string(64, 'n'), at::zeros({2}), formats::GgmlType::F32); }),
               {"tensor name is too long", "got:      64 bytes"});
  expect_error(error_from([&] {
                 w.add_tensor("w", at::zeros({1, 1, 1, 1, 2}), formats::GgmlType::F32);
               }),
               {"at most 4 dimensions"});
  w.add_tensor("w", at::zeros({2}), formats::GgmlType::F32);
  expect_error(error_from([&] { w.add_tensor("w", at::zeros({2}), formats::GgmlType::F32); }),
               {"tensor 'w'", "duplicate GGUF tensor name"});
  expect_error(error_from([&] { w.add_raw("r", {32}, formats::GgmlType::Q8_0, std::string(33, '\0')); }),
               {"tensor 'r'", "wrong size", "expected: 34 bytes for Q8_0 ne = [32]", "got:      33 bytes"});
  expect_error(error_from([&] { w.set("general.alignment", uint32_t{12}); }), {"not a usable alignment"});
  expect_error(error_from([&] { w.set("general.alignment", uint64_t{32}); }), {"expected: u32", "got:      u64"});
  expect_error(error_from([&] { w.set("", uint32_t{1}); }), {"metadata key must be 1 to 65535 bytes"});
  expect_error(error_from([&] { GgufValue::array_of_arrays({GgufValue(1.0f)}); }), {"array of arrays"});
}

// A small fuzz run that CI repeats: every truncation and four mutations of every byte of a file holding every
// metadata and tensor type either loads (then every value prints and every tensor decodes) or throws Error.
TEST(GgufErrors, EveryTruncationAndByteMutationIsHandled) {
  GgufWriter w;
  w.set("a.u8", uint8_t{1});
  w.set("a.i16", int16_t{-2});
  w.set("a.f64", 2.5);
  w.set("a.flag", false);
  w.set("a.name", "x");
  w.set("a.tokens", GgufValue::array(std::vector<std::string>{"<s>", "ab"}));
  w.set("a.scores", GgufValue::array(std::vector<float>{0.5f, -1.0f}));
  w.set("a.nested", GgufValue::array_of_arrays({GgufValue::array(std::vector<bool>{true})}));
  w.add_tensor("f32", at::ones({2}), formats::GgmlType::F32);
  w.add_tensor("f16", at::ones({2}), formats::GgmlType::F16);
  w.add_tensor("bf16", at::ones({2}), formats::GgmlType::BF16);
  w.add_tensor("q8", at::ones({1, 32}), formats::GgmlType::Q8_0);
  w.add_tensor("q4", at::ones({1, 32}), formats::GgmlType::Q4_0);
  const std::string good = bytes_of(w);
  int loaded = 0, refused = 0;
  auto check = [&](const std::string& b) {
    try {
      const GgufFile f = parse(b);
      for (const auto& kv : f.metadata()) (void)kv.second.text();
      for (const auto& t : f.tensors()) {
        if (t.numel() > (1 << 16)) continue;
        try {
          EXPECT_EQ(f.tensor_f32(t.name).numel(), t.numel());
        } catch (const Error&) {  // a type pare cannot decode
        }
      }
      ++loaded;
    } catch (const Error&) {
      ++refused;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "not a pare::Error: " << e.what();
    }
  };
  for (size_t n = 0; n < good.size(); ++n) check(good.substr(0, n));
  for (size_t i = 0; i < good.size(); ++i)
    for (int v : {0x00, 0xFF, good[i] ^ 0x80, good[i] + 1}) {
      std::string b = good;
      b[i] = static_cast<char>(v);
      check(b);
    }
  EXPECT_GT(loaded, 0);
  EXPECT_GT(refused, static_cast<int>(good.size()));
}

TEST(GgufErrors, MissingFileAndFolder) {
  expect_error(error_from([] { GgufFile::open("/nonexistent/x.gguf"); }), {"/nonexistent/x.gguf", "does not exist"});
  expect_error(error_from([] { GgufFile::open("/tmp"); }), {"expected a GGUF file but got a folder"});
}

}  // namespace
}  // namespace pare::io
