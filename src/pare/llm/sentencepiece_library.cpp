// Loading libpare_sentencepiece.so (next to the running program, else where the build put it) and calling
// its C interface.
#include "pare/llm/sentencepiece_library.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <type_traits>
#include <utility>

#include "pare/error.h"

namespace pare::llm {

namespace {
constexpr const char* kShimName = "libpare_sentencepiece.so";

// A malloc'ed buffer from the helper library, freed on scope exit.
struct Freed {
  void* p = nullptr;
  ~Freed() { std::free(p); }
};

std::string take_error(char* error) {
  Freed f{error};
  return error ? std::string(error) : std::string("unknown SentencePiece error");
}
}  // namespace

struct SentencePiece::Api {
  void* lib = nullptr;
  int (*train)(const char*, const char*, size_t, unsigned, char**, size_t*, char**) = nullptr;
  int (*load)(const char*, size_t, void**, char**) = nullptr;
  void (*unload)(void*) = nullptr;
  void (*info)(void*, int32_t*, int32_t*, int32_t*, int32_t*) = nullptr;
  int (*encode)(void*, const char*, size_t, int32_t**, size_t*, char**) = nullptr;
  int (*decode)(void*, const int32_t*, size_t, char**, size_t*, char**) = nullptr;
  ~Api() {
    if (lib) dlclose(lib);
  }

  // dlopen counts references, so opening per model is cheap and needs no global state.
  static std::shared_ptr<const Api> open() {
    std::vector<std::string> tried;
    std::error_code ec;
    const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) tried.push_back((exe.parent_path() / kShimName).string());
#ifdef PARE_SENTENCEPIECE_SHIM
    tried.push_back(PARE_SENTENCEPIECE_SHIM);
#endif
    auto api = std::make_shared<Api>();
    std::string errors;
    for (const std::string& path : tried) {
      if (!std::filesystem::exists(path, ec)) continue;
      // DEEPBIND: the library and its dependencies resolve protobuf symbols in SentencePiece's own copy.
      api->lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
      if (api->lib) break;
      errors += std::string(dlerror()) + "; ";
    }
    if (!api->lib) {
      std::string where;
      for (const auto& t : tried) where += (where.empty() ? "" : ", ") + t;
      throw Error("cannot load pare's SentencePiece helper library " + std::string(kShimName))
          .expected("it at " + where)
          .got(errors.empty() ? "no such file" : errors)
          .hint("build it with `ninja -C build pare_sentencepiece` and keep it next to the pare program");
    }
    auto sym = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(api->lib, name));
      if (!fn) throw Error(std::string("the SentencePiece helper library lacks ") + name).hint("rebuild pare");
    };
    sym(api->train, "pare_spm_train");
    sym(api->load, "pare_spm_load");
    sym(api->unload, "pare_spm_unload");
    sym(api->info, "pare_spm_info");
    sym(api->encode, "pare_spm_encode");
    sym(api->decode, "pare_spm_decode");
    return api;
  }
};

SentencePiece::SentencePiece(std::shared_ptr<const Api> api, void* handle) : api_(std::move(api)), handle_(handle) {
  api_->info(handle_, &size, &unk_id, &bos_id, &eos_id);
}
SentencePiece::SentencePiece(SentencePiece&& o) noexcept
    : size(o.size),
      unk_id(o.unk_id),
      bos_id(o.bos_id),
      eos_id(o.eos_id),
      api_(std::move(o.api_)),
      handle_(std::exchange(o.handle_, nullptr)),
      where_(std::move(o.where_)) {}
SentencePiece& SentencePiece::operator=(SentencePiece&& o) noexcept {
  if (this != &o) {
    if (handle_) api_->unload(handle_);
    size = o.size, unk_id = o.unk_id, bos_id = o.bos_id, eos_id = o.eos_id;
    api_ = std::move(o.api_);
    handle_ = std::exchange(o.handle_, nullptr);
    where_ = std::move(o.where_);
  }
  return *this;
}
SentencePiece::~SentencePiece() {
  if (handle_) api_->unload(handle_);
}

SentencePiece SentencePiece::load(std::string_view model_bytes, const std::string& where) {
  auto api = Api::open();
  void* handle = nullptr;
  char* error = nullptr;
  if (api->load(model_bytes.data(), model_bytes.size(), &handle, &error) != 0)
    throw Error("SentencePiece cannot load the tokenizer model: " + take_error(error))
        .file(where)
        .hint("expected a SentencePiece tokenizer.model (as shipped in a Hugging Face Llama folder)");
  SentencePiece sp(std::move(api), handle);
  sp.where_ = where;
  return sp;
}

std::string SentencePiece::train(const std::string& args, const std::string& text, uint32_t seed) {
  auto api = Api::open();
  char *model = nullptr, *error = nullptr;
  size_t len = 0;
  if (api->train(args.c_str(), text.data(), text.size(), seed, &model, &len, &error) != 0)
    throw Error("SentencePiece training failed: " + take_error(error));
  Freed f{model};
  return std::string(model, len);
}

std::vector<int32_t> SentencePiece::encode(std::string_view text) const {
  int32_t* ids = nullptr;
  size_t n = 0;
  char* error = nullptr;
  if (api_->encode(handle_, text.data(), text.size(), &ids, &n, &error) != 0)
    throw Error("SentencePiece cannot encode the text: " + take_error(error)).file(where_);
  Freed f{ids};
  return std::vector<int32_t>(ids, ids + n);
}

std::string SentencePiece::decode(const std::vector<int32_t>& ids) const {
  char* text = nullptr;
  size_t len = 0;
  char* error = nullptr;
  if (api_->decode(handle_, ids.data(), ids.size(), &text, &len, &error) != 0)
    throw Error("SentencePiece cannot decode the ids: " + take_error(error)).file(where_);
  Freed f{text};
  return std::string(text, len);
}

}  // namespace pare::llm
