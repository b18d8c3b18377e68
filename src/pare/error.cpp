// Composes the message of pare::Error in a fixed order so that every error reads the same way.
#include "pare/error.h"

namespace pare {

Error::Error(std::string what) : what_(std::move(what)) { compose(); }

Error& Error::file(std::string path) {
  file_ = std::move(path);
  compose();
  return *this;
}
Error& Error::node(std::string name) {
  node_ = std::move(name);
  compose();
  return *this;
}
Error& Error::tensor(std::string name) {
  tensor_ = std::move(name);
  compose();
  return *this;
}
Error& Error::expected(std::string text) {
  expected_ = std::move(text);
  compose();
  return *this;
}
Error& Error::got(std::string text) {
  got_ = std::move(text);
  compose();
  return *this;
}
Error& Error::hint(std::string text) {
  hint_ = std::move(text);
  compose();
  return *this;
}

void Error::compose() {
  message_.clear();
  if (!file_.empty()) message_ += file_ + ": ";
  if (!node_.empty()) message_ += "node '" + node_ + "': ";
  if (!tensor_.empty()) message_ += "tensor '" + tensor_ + "': ";
  message_ += what_;
  if (!expected_.empty()) message_ += "\n  expected: " + expected_;
  if (!got_.empty()) message_ += "\n  got:      " + got_;
  if (!hint_.empty()) message_ += "\n  hint:     " + hint_;
}

namespace detail {
void assert_failed(const char* cond, const char* msg, const char* file, int line) {
  throw Error(std::string("internal error (a pare bug): ") + msg + " [" + cond + "] at " + file + ":" +
              std::to_string(line))
      .hint("please report this with the command that triggered it");
}
}  // namespace detail

}  // namespace pare
