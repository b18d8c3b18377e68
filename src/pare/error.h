// pare::Error: the one exception type of the library. It says what went wrong, where (file, node,
// tensor), what was expected and what was found, and what to do. Only cli/main.cpp prints it.
#pragma once
#include <exception>
#include <string>

namespace pare {

class Error : public std::exception {
 public:
  explicit Error(std::string what);

  Error& file(std::string path);
  Error& node(std::string name);
  Error& tensor(std::string name);
  Error& expected(std::string text);
  Error& got(std::string text);
  Error& hint(std::string text);

  const char* what() const noexcept override { return message_.c_str(); }
  const std::string& summary() const { return what_; }
  const std::string& file_path() const { return file_; }
  const std::string& node_name() const { return node_; }
  const std::string& tensor_name() const { return tensor_; }
  const std::string& hint_text() const { return hint_; }

 private:
  void compose();
  std::string what_, file_, node_, tensor_, expected_, got_, hint_;
  std::string message_;
};

namespace detail {
[[noreturn]] void assert_failed(const char* cond, const char* msg, const char* file, int line);
}

}  // namespace pare

// An internal invariant: a failure is a pare bug, reported with file:line (never abort()).
#define PARE_ASSERT(cond, msg)                                                    \
  do {                                                                            \
    if (!(cond)) ::pare::detail::assert_failed(#cond, (msg), __FILE__, __LINE__); \
  } while (0)
