// libpare_sentencepiece.so: a C interface over the SentencePiece library, built as its own shared library and
// loaded by llm/sentencepiece_library.cpp with RTLD_DEEPBIND (see there why). Not part of pare_lib. Every
// function returns 0 on success; on failure it returns 1 and sets *error to a malloc'ed message.
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

// Exported by libsentencepiece but not declared in its public headers; quiets the trainer's INFO log.
namespace sentencepiece::logging {
void SetMinLogLevel(int v);
}

namespace {

char* copy_out(const std::string& s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (p) std::memcpy(p, s.data(), s.size() + 1);
  return p;
}

int fail(char** error, const std::string& what) {
  if (error) *error = copy_out(what);
  return 1;
}

// The non-empty lines of a text, as training sentences.
class LineIterator : public sentencepiece::SentenceIterator {
 public:
  explicit LineIterator(std::string_view text) : text_(text) { Next(); }
  bool done() const override { return done_; }
  void Next() override {
    while (pos_ < text_.size()) {
      size_t end = text_.find('\n', pos_);
      if (end == std::string_view::npos) end = text_.size();
      value_.assign(text_.data() + pos_, end - pos_);
      pos_ = end + 1;
      if (!value_.empty()) return;
    }
    done_ = true;
  }
  const std::string& value() const override { return value_; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  std::string_view text_;
  size_t pos_ = 0;
  std::string value_;
  bool done_ = false;
};

}  // namespace

extern "C" {

void pare_spm_free(void* p) { std::free(p); }

int pare_spm_train(const char* args, const char* text, size_t text_len, unsigned seed, char** model, size_t* model_len,
                   char** error) {
  try {
    sentencepiece::logging::SetMinLogLevel(2);
    sentencepiece::SetRandomGeneratorSeed(seed);
    LineIterator lines(std::string_view(text, text_len));
    std::string out;
    const auto status = sentencepiece::SentencePieceTrainer::Train(args, &lines, &out);
    if (!status.ok()) return fail(error, status.ToString());
    *model = static_cast<char*>(std::malloc(out.size() ? out.size() : 1));
    if (!*model) return fail(error, "out of memory");
    std::memcpy(*model, out.data(), out.size());
    *model_len = out.size();
    return 0;
  } catch (const std::exception& e) {
    return fail(error, e.what());
  }
}

int pare_spm_load(const char* model, size_t len, void** handle, char** error) {
  try {
    auto* sp = new sentencepiece::SentencePieceProcessor();
    const auto status = sp->LoadFromSerializedProto(std::string_view(model, len));
    if (!status.ok()) {
      delete sp;
      return fail(error, status.ToString());
    }
    *handle = sp;
    return 0;
  } catch (const std::exception& e) {
    return fail(error, e.what());
  }
}

void pare_spm_unload(void* handle) { delete static_cast<sentencepiece::SentencePieceProcessor*>(handle); }

void pare_spm_info(void* handle, int32_t* size, int32_t* unk, int32_t* bos, int32_t* eos) {
  const auto* sp = static_cast<const sentencepiece::SentencePieceProcessor*>(handle);
  *size = sp->GetPieceSize();
  *unk = sp->unk_id();
  *bos = sp->bos_id();
  *eos = sp->eos_id();
}

int pare_spm_encode(void* handle, const char* text, size_t len, int32_t** ids, size_t* n, char** error) {
  try {
    std::vector<int> out;
    const auto status =
        static_cast<const sentencepiece::SentencePieceProcessor*>(handle)->Encode(std::string_view(text, len), &out);
    if (!status.ok()) return fail(error, status.ToString());
    *ids = static_cast<int32_t*>(std::malloc(out.size() ? out.size() * sizeof(int32_t) : 1));
    if (!*ids) return fail(error, "out of memory");
    for (size_t i = 0; i < out.size(); ++i) (*ids)[i] = out[i];
    *n = out.size();
    return 0;
  } catch (const std::exception& e) {
    return fail(error, e.what());
  }
}

int pare_spm_decode(void* handle, const int32_t* ids, size_t n, char** text, size_t* len, char** error) {
  try {
    std::string out;
    const auto status =
        static_cast<const sentencepiece::SentencePieceProcessor*>(handle)->Decode(std::vector<int>(ids, ids + n), &out);
    if (!status.ok()) return fail(error, status.ToString());
    *text = static_cast<char*>(std::malloc(out.size() ? out.size() : 1));
    if (!*text) return fail(error, "out of memory");
    std::memcpy(*text, out.data(), out.size());
    *len = out.size();
    return 0;
  } catch (const std::exception& e) {
    return fail(error, e.what());
  }
}

}  // extern "C"
