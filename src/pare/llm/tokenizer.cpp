// Tokenizer: the SentencePiece library behind load(), pare's SPM-BPE behind from_vocab().
#include "pare/llm/tokenizer.h"

#include <fstream>
#include <optional>
#include <sstream>

#include "pare/error.h"
#include "pare/llm/sentencepiece_library.h"
#include "pare/llm/sentencepiece_model.h"
#include "pare/llm/spm_bpe.h"

namespace pare::llm {

struct Tokenizer::Impl {
  std::string source;
  Vocab vocab;                      // with load(); from_vocab keeps it in bpe
  std::optional<SentencePiece> sp;  // load()
  std::unique_ptr<SpmBpe> bpe;      // from_vocab()
};

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::load(const std::string& path) {
  // pare's reader first: it names the file and the problem, and it sees every piece type.
  read_sentencepiece_model(path);
  std::ifstream f(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << f.rdbuf();
  return from_model_bytes(bytes.str(), path);
}

Tokenizer Tokenizer::from_model_bytes(const std::string& bytes, const std::string& path) {
  auto impl = std::make_unique<Impl>();
  impl->source = path;
  impl->vocab = parse_sentencepiece_model(bytes, path).vocab;
  impl->sp = SentencePiece::load(bytes, path);
  const Vocab& v = impl->vocab;
  const SentencePiece& sp = *impl->sp;
  if (sp.size != v.size() || sp.unk_id != v.unk_id || sp.bos_id != v.bos_id || sp.eos_id != v.eos_id)
    throw Error("SentencePiece and pare read the tokenizer model differently")
        .file(path)
        .expected(std::to_string(v.size()) + " pieces, unk/bos/eos " + std::to_string(v.unk_id) + "/" +
                  std::to_string(v.bos_id) + "/" + std::to_string(v.eos_id))
        .got(std::to_string(sp.size) + " pieces, unk/bos/eos " + std::to_string(sp.unk_id) + "/" +
             std::to_string(sp.bos_id) + "/" + std::to_string(sp.eos_id))
        .hint("please report this with the model file");
  return Tokenizer(std::move(impl));
}

Tokenizer Tokenizer::from_vocab(Vocab vocab, std::string source) {
  auto impl = std::make_unique<Impl>();
  impl->source = std::move(source);
  impl->bpe = std::make_unique<SpmBpe>(std::move(vocab));
  return Tokenizer(std::move(impl));
}

const Vocab& Tokenizer::vocab() const { return impl_->bpe ? impl_->bpe->vocab() : impl_->vocab; }
const std::string& Tokenizer::source() const { return impl_->source; }
bool Tokenizer::uses_sentencepiece() const { return impl_->sp.has_value(); }

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  return impl_->bpe ? impl_->bpe->encode(text) : impl_->sp->encode(text);
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  if (impl_->bpe) return impl_->bpe->decode(ids);
  const int32_t n = size();
  for (int32_t id : ids)  // the library would report only "invalid id"; say which and what is valid
    if (id < 0 || id >= n)
      throw Error("token id out of range")
          .file(impl_->source)
          .expected("0 .. " + std::to_string(n - 1))
          .got(std::to_string(id))
          .hint("the ids do not belong to this tokenizer");
  return impl_->sp->decode(ids);
}

}  // namespace pare::llm
