// A protobuf wire-format reader just large enough for ModelProto (varints, 32/64-bit fixed fields,
// length-delimited fields), and the ModelProto fields a tokenizer needs.
#include "pare/llm/sentencepiece_model.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "pare/error.h"

namespace pare::llm {

namespace {

const char* kModelHint =
    "expected a SentencePiece tokenizer.model (as shipped in a Hugging Face Llama folder); `pare text "
    "train-tokenizer` writes one";

enum WireType { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

class WireReader {
 public:
  WireReader(std::string_view bytes, const std::string& where, size_t base = 0)
      : b_(bytes), where_(where), base_(base) {}

  bool done() const { return pos_ >= b_.size(); }

  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (done()) fail("a number runs past the end");
      const uint8_t c = static_cast<uint8_t>(b_[pos_++]);
      v |= static_cast<uint64_t>(c & 0x7F) << shift;
      if (!(c & 0x80)) return v;
    }
    fail("a number is longer than 10 bytes");
  }

  // The next field's number and wire type.
  std::pair<uint64_t, int> tag() {
    const uint64_t t = varint();
    if ((t >> 3) == 0) fail("field number 0");
    return {t >> 3, static_cast<int>(t & 7)};
  }

  // A length-delimited field's bytes, and a reader over them (for nested messages).
  std::string_view bytes() {
    const uint64_t n = varint();
    if (n > b_.size() - pos_) fail("a field of " + std::to_string(n) + " bytes runs past the end");
    std::string_view s = b_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  WireReader message() {
    std::string_view s = bytes();
    return WireReader(s, where_, base_ + static_cast<size_t>(s.data() - b_.data()));
  }

  float fixed32_float() {
    if (b_.size() - pos_ < 4) fail("a 4-byte field runs past the end");
    float f;
    std::memcpy(&f, b_.data() + pos_, 4);  // little-endian, as the wire format and x86/ARM hosts are
    pos_ += 4;
    return f;
  }

  void skip(int wire_type) {
    switch (wire_type) {
      case kVarint:
        varint();
        return;
      case kFixed64:
        advance(8);
        return;
      case kLengthDelimited:
        bytes();
        return;
      case kFixed32:
        advance(4);
        return;
      default:
        fail("wire type " + std::to_string(wire_type) + ", which ModelProto does not use");
    }
  }

  void expect(int got, int wanted, const char* field) {
    if (got != wanted) fail(std::string("field ") + field + " has wire type " + std::to_string(got));
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw Error("not a valid SentencePiece model: " + what + " (near byte " + std::to_string(base_ + pos_) + ")")
        .file(where_)
        .hint(kModelHint);
  }

 private:
  void advance(size_t n) {
    if (b_.size() - pos_ < n) fail("a fixed-size field runs past the end");
    pos_ += n;
  }

  std::string_view b_;
  const std::string& where_;
  size_t base_ = 0, pos_ = 0;
};

Piece read_piece(WireReader r) {
  Piece p;
  bool has_text = false;
  while (!r.done()) {
    const auto [field, wt] = r.tag();
    if (field == 1) {
      r.expect(wt, kLengthDelimited, "piece");
      p.text = std::string(r.bytes());
      has_text = true;
    } else if (field == 2) {
      r.expect(wt, kFixed32, "score");
      p.score = r.fixed32_float();
    } else if (field == 3) {
      r.expect(wt, kVarint, "type");
      const uint64_t t = r.varint();
      if (t < 1 || t > 6) r.fail("piece type " + std::to_string(t) + " (valid: 1 to 6)");
      p.type = static_cast<PieceType>(t);
    } else {
      r.skip(wt);
    }
  }
  if (!has_text || p.text.empty()) r.fail("a piece without text");
  return p;
}

void read_trainer_spec(WireReader r, SentencePieceModel& m) {
  static const char* kTypes[] = {"", "unigram", "bpe", "word", "char"};
  while (!r.done()) {
    const auto [field, wt] = r.tag();
    if (field == 3 && wt == kVarint) {
      const uint64_t t = r.varint();
      if (t < 1 || t > 4) r.fail("model type " + std::to_string(t));
      m.model_type = kTypes[t];
    } else if (field == 35 && wt == kVarint) {
      m.byte_fallback = r.varint() != 0;
    } else if ((field == 40 || field == 41 || field == 42) && wt == kVarint) {
      const auto id = static_cast<int32_t>(r.varint());  // int32 -1 is sent as a 10-byte varint
      (field == 40 ? m.vocab.unk_id : field == 41 ? m.vocab.bos_id : m.vocab.eos_id) = id;
    } else {
      r.skip(wt);
    }
  }
}

void read_normalizer_spec(WireReader r, SentencePieceModel& m) {
  while (!r.done()) {
    const auto [field, wt] = r.tag();
    if (field == 1 && wt == kLengthDelimited) {
      m.normalizer = std::string(r.bytes());
    } else if (field == 2 && wt == kLengthDelimited) {
      m.has_charsmap = !r.bytes().empty();
    } else if (field >= 3 && field <= 5 && wt == kVarint) {
      const bool v = r.varint() != 0;
      (field == 3   ? m.vocab.add_dummy_prefix
       : field == 4 ? m.vocab.remove_extra_whitespaces
                    : m.escape_whitespaces) = v;
    } else {
      r.skip(wt);
    }
  }
}

void check_special_id(int32_t id, const char* name, const SentencePieceModel& m, const std::string& where) {
  if (id < -1 || id >= m.vocab.size())
    throw Error(std::string("the model's ") + name + " id is out of range")
        .file(where)
        .expected("-1 or an id below " + std::to_string(m.vocab.size()))
        .got(std::to_string(id))
        .hint(kModelHint);
}

}  // namespace

SentencePieceModel parse_sentencepiece_model(std::string_view bytes, const std::string& where) {
  SentencePieceModel m;
  m.vocab.remove_extra_whitespaces = true;  // the proto default (Llama's model sets it false)
  WireReader r(bytes, where);
  while (!r.done()) {
    const auto [field, wt] = r.tag();
    if (field >= 1 && field <= 3) r.expect(wt, kLengthDelimited, field == 1 ? "pieces" : "spec");
    if (field == 1)
      m.vocab.pieces.push_back(read_piece(r.message()));
    else if (field == 2)
      read_trainer_spec(r.message(), m);
    else if (field == 3)
      read_normalizer_spec(r.message(), m);
    else
      r.skip(wt);
  }
  if (m.vocab.pieces.empty())
    throw Error("not a valid SentencePiece model: it has no pieces").file(where).hint(kModelHint);
  if (m.vocab.unk_id == -1) throw Error("the model has no unknown piece (unk_id is -1)").file(where).hint(kModelHint);
  check_special_id(m.vocab.unk_id, "unk", m, where);
  check_special_id(m.vocab.bos_id, "bos", m, where);
  check_special_id(m.vocab.eos_id, "eos", m, where);
  return m;
}

SentencePieceModel read_sentencepiece_model(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw Error("tokenizer model not found")
        .file(path)
        .hint("a Hugging Face Llama folder ships tokenizer.model; `pare text train-tokenizer` writes one");
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot read the tokenizer model").file(path).hint("check its permissions");
  std::ostringstream s;
  s << f.rdbuf();
  return parse_sentencepiece_model(s.str(), path);
}

std::vector<std::string> normalization_steps(const SentencePieceModel& m) {
  std::vector<std::string> steps;
  if (m.has_charsmap) {
    const std::string& n = m.normalizer;
    std::string what = "a custom character map";
    if (n.find("nfkc") != std::string::npos)
      what =
          "NFKC: full-width forms, ligatures, super- and subscripts and other compatibility characters become "
          "their plain forms";
    if (n.rfind("nmt_", 0) == 0)
      what += "; control characters are dropped, and newlines, tabs and unusual spaces become plain spaces";
    if (n.size() > 3 && n.compare(n.size() - 3, 3, "_cf") == 0) what += "; letters are case-folded";
    steps.push_back("normalizer '" + (n.empty() ? std::string("unnamed") : n) + "' (" + what + ")");
  }
  if (m.vocab.remove_extra_whitespaces)
    steps.push_back("remove_extra_whitespaces (leading and trailing spaces are dropped, runs of spaces become one)");
  return steps;
}

}  // namespace pare::llm
