// A node attribute, the IR twin of ONNX AttributeProto: one kind, one payload.
#pragma once
#include <ATen/ATen.h>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace pare::ir {

class Graph;

struct Attribute {
  enum class Kind { Int, Float, String, Tensor, Graph, Ints, Floats, Strings };

  Kind kind = Kind::Int;
  int64_t i = 0;
  double f = 0.0;
  std::string s;
  at::Tensor t;
  std::shared_ptr<Graph> g;  // sub-graph (If/Loop bodies): kept for round trips, not executed
  std::vector<int64_t> ints;
  std::vector<double> floats;
  std::vector<std::string> strings;

  Attribute() = default;
  Attribute(int v) : kind(Kind::Int), i(v) {}
  Attribute(int64_t v) : kind(Kind::Int), i(v) {}
  Attribute(double v) : kind(Kind::Float), f(v) {}
  Attribute(float v) : kind(Kind::Float), f(v) {}
  Attribute(const char* v) : kind(Kind::String), s(v) {}
  Attribute(std::string v) : kind(Kind::String), s(std::move(v)) {}
  Attribute(at::Tensor v) : kind(Kind::Tensor), t(std::move(v)) {}
  Attribute(std::shared_ptr<Graph> v) : kind(Kind::Graph), g(std::move(v)) {}
  Attribute(std::vector<int64_t> v) : kind(Kind::Ints), ints(std::move(v)) {}
  Attribute(std::initializer_list<int64_t> v) : kind(Kind::Ints), ints(v) {}
  Attribute(std::vector<double> v) : kind(Kind::Floats), floats(std::move(v)) {}
  Attribute(std::vector<std::string> v) : kind(Kind::Strings), strings(std::move(v)) {}
};

const char* attribute_kind_name(Attribute::Kind k);

using Attributes = std::map<std::string, Attribute>;

}  // namespace pare::ir
