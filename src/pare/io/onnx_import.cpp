// ModelProto -> ir::Graph. Validates what the executor relies on (every value defined, opsets known)
// and reports all problems of one kind at once rather than the first.
#include "pare/io/onnx_import.h"

#include <google/protobuf/io/coded_stream.h>

#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "pare/error.h"
#include "pare/io/onnx_schema_check.h"
#include "pare/io/onnx_tensor.h"
#include "pare/io/package_format.h"

namespace pare::io {
namespace fs = std::filesystem;

namespace {

ir::ValueInfo value_info_from_proto(const onnx::ValueInfoProto& v) {
  ir::ValueInfo vi;
  vi.name = v.name();
  vi.doc = v.doc_string();
  if (v.type().has_tensor_type()) {
    const auto& tt = v.type().tensor_type();
    vi.dtype = static_cast<ir::DType>(tt.elem_type());
    if (tt.has_shape()) {
      std::vector<ir::Dim> dims;
      for (const auto& d : tt.shape().dim()) {
        ir::Dim dim;
        if (d.has_dim_value())
          dim.value = d.dim_value();
        else if (d.has_dim_param())
          dim.param = d.dim_param();
        dims.push_back(dim);
      }
      vi.shape = dims;
    }
  }
  return vi;
}

ir::Graph graph_from_proto(const onnx::GraphProto& gp, const std::string& base_dir, const std::string& context,
                           const std::map<std::string, int64_t>& opsets);

ir::Attribute attribute_from_proto(const onnx::AttributeProto& a, const std::string& base_dir,
                                   const std::string& context, const std::string& node_name,
                                   const std::map<std::string, int64_t>& opsets) {
  using K = ir::Attribute::Kind;
  ir::Attribute out;
  switch (a.type()) {
    case onnx::AttributeProto::INT:
      out.kind = K::Int;
      out.i = a.i();
      break;
    case onnx::AttributeProto::FLOAT:
      out.kind = K::Float;
      out.f = a.f();
      break;
    case onnx::AttributeProto::STRING:
      out.kind = K::String;
      out.s = a.s();
      break;
    case onnx::AttributeProto::TENSOR:
      out.kind = K::Tensor;
      out.t = tensor_from_proto(a.t(), base_dir, context);
      break;
    case onnx::AttributeProto::GRAPH:
      out.kind = K::Graph;
      out.g = std::make_shared<ir::Graph>(graph_from_proto(a.g(), base_dir, context, opsets));
      break;
    case onnx::AttributeProto::INTS:
      out.kind = K::Ints;
      out.ints.assign(a.ints().begin(), a.ints().end());
      break;
    case onnx::AttributeProto::FLOATS:
      out.kind = K::Floats;
      out.floats.assign(a.floats().begin(), a.floats().end());
      break;
    case onnx::AttributeProto::STRINGS:
      out.kind = K::Strings;
      out.strings.assign(a.strings().begin(), a.strings().end());
      break;
    default:
      throw Error("attribute '" + a.name() +
                  "' has a kind pare does not support (sparse tensor, tensor or graph list, type proto)")
          .file(context)
          .node(node_name);
  }
  return out;
}

ir::Graph graph_from_proto(const onnx::GraphProto& gp, const std::string& base_dir, const std::string& context,
                           const std::map<std::string, int64_t>& opsets) {
  ir::Graph g;
  g.name = gp.name();
  g.doc = gp.doc_string();
  g.opsets = opsets;
  for (const auto& t : gp.initializer()) {
    if (t.name().empty()) throw Error("an initializer has no name").file(context);
    g.initializers[t.name()] = tensor_from_proto(t, base_dir, context);
  }
  if (gp.sparse_initializer_size())
    throw Error("sparse initializers are not supported")
        .file(context)
        .hint("densify the model first (onnx.numpy_helper / a re-export)");
  for (const auto& v : gp.input())
    if (!g.initializers.count(v.name())) g.inputs.push_back(value_info_from_proto(v));
  for (const auto& v : gp.output()) g.outputs.push_back(value_info_from_proto(v));
  for (const auto& v : gp.value_info()) g.value_info.push_back(value_info_from_proto(v));
  int counter = 0;
  for (const auto& np : gp.node()) {
    ir::Node n;
    n.name = np.name().empty() ? np.op_type() + "_" + std::to_string(counter) : np.name();
    ++counter;
    n.op_type = np.op_type();
    n.domain = np.domain() == "ai.onnx" ? "" : np.domain();
    n.doc = np.doc_string();
    n.inputs.assign(np.input().begin(), np.input().end());
    n.outputs.assign(np.output().begin(), np.output().end());
    for (const auto& a : np.attribute()) {
      if (!a.ref_attr_name().empty()) continue;  // function-body references: not used in main graphs
      n.attrs[a.name()] = attribute_from_proto(a, base_dir, context, n.name, opsets);
    }
    g.nodes.push_back(std::move(n));
  }
  return g;
}

}  // namespace

onnx::ModelProto read_model_proto(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec))
    throw Error("model file does not exist").file(path).hint("check the path; `ls` the folder");
  // Language models handed to an ONNX command get a pointer to the commands that take them.
  const std::string llm_hint =
      "pare run/eval/train take ONNX models; for a Llama use pare ppl, pare quantize or pare export";
  if (fs::is_directory(path, ec)) {
    if (fs::exists(fs::path(path) / "config.json", ec))
      throw Error("expected an ONNX file but got a model folder (Hugging Face layout)").file(path).hint(llm_hint);
    throw Error("expected an ONNX file but got a folder").file(path);
  }
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("model file cannot be opened for reading").file(path).hint("check its permissions");
  {  // the first bytes tell a GGUF or safetensors file before the whole file is read
    char head[9] = {};
    f.read(head, 9);
    const std::streamsize got = f.gcount();
    uint64_t n = 0;
    std::memcpy(&n, head, 8);
    if (got >= 8 && std::memcmp(head, kPackageMagic, 8) == 0)
      throw Error("expected an ONNX file but got a .pare package (a model pare already quantized)")
          .file(path)
          .hint("quantize the float ONNX model it came from; pare eval, run and info read packages");
    if (got >= 4 && std::memcmp(head, "GGUF", 4) == 0)
      throw Error("expected an ONNX file but got a GGUF file").file(path).hint(llm_hint);
    if (got == 9 && head[8] == '{' && n >= 2 && n <= fs::file_size(path, ec) - 8)
      throw Error("expected an ONNX file but got a safetensors file")
          .file(path)
          .hint("pass the model's folder (config.json + safetensors) to pare ppl, pare quantize or pare export");
    f.clear();
    f.seekg(0);
  }
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return model_proto_from_bytes(bytes, path);
}

onnx::ModelProto model_proto_from_bytes(const std::string& bytes, const std::string& context) {
  if (bytes.empty())
    throw Error("model file is empty")
        .file(context)
        .expected("an ONNX protobuf")
        .got("0 bytes")
        .hint("the export or copy did not finish; re-export the model");
  if (bytes.size() > static_cast<size_t>(INT_MAX))
    throw Error("model file is larger than 2 GB; protobuf cannot parse it in one piece")
        .file(context)
        .got(std::to_string(bytes.size()) + " bytes")
        .hint("save the weights as external data (onnx.save_model(..., save_as_external_data=True))");
  onnx::ModelProto model;
  google::protobuf::io::CodedInputStream stream(reinterpret_cast<const uint8_t*>(bytes.data()),
                                                static_cast<int>(bytes.size()));
  stream.SetTotalBytesLimit(INT_MAX);
  stream.SetRecursionLimit(64);
  if (!model.ParseFromCodedStream(&stream) || !stream.ConsumedEntireMessage())
    throw Error("not a valid ONNX model: the protobuf cannot be parsed (truncated or corrupt file?)")
        .file(context)
        .expected("a serialized onnx.ModelProto")
        .got(std::to_string(bytes.size()) + " bytes that do not parse")
        .hint("re-export the model; `python3 -c \"import onnx; onnx.checker.check_model('FILE')\"` tells more");
  if (!model.has_graph())
    throw Error("not a valid ONNX model: it has no graph (is this an ONNX file?)")
        .file(context)
        .expected("a ModelProto with a graph");
  return model;
}

ir::Graph graph_from_model(const onnx::ModelProto& model, const std::string& base_dir, const std::string& context) {
  std::map<std::string, int64_t> opsets;
  for (const auto& o : model.opset_import()) opsets[o.domain() == "ai.onnx" ? "" : o.domain()] = o.version();
  // Models that declare no default-domain opset (IR v2 and older, or custom-domain-only ones) get opset 1.
  if (!opsets.count("")) opsets[""] = 1;
  if (opsets[""] < kMinOpset)
    throw Error("model declares ONNX opset " + std::to_string(opsets[""]) + ", which does not exist")
        .file(context)
        .expected("opset " + std::to_string(kMinOpset) + " to " + std::to_string(kMaxOpset))
        .hint("the opset_import of the model is corrupt; re-export it");
  if (opsets[""] > kMaxOpset)
    throw Error("model uses ONNX opset " + std::to_string(opsets[""]) + ", newer than pare supports")
        .file(context)
        .expected("opset " + std::to_string(kMinOpset) + " to " + std::to_string(kMaxOpset))
        .hint("re-export with opset_version=17 (torch.onnx.export) or convert with onnx.version_converter");

  ir::Graph g = graph_from_proto(model.graph(), base_dir, context, opsets);
  g.ir_version = model.ir_version();
  g.producer_name = model.producer_name();
  g.producer_version = model.producer_version();
  if (g.doc.empty()) g.doc = model.doc_string();
  for (const auto& kv : model.metadata_props()) g.metadata[kv.key()] = kv.value();

  // Every value read must be defined somewhere: list all missing ones at once.
  std::vector<std::string> missing = g.undefined_values();
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) {
      std::string who;
      for (const auto& n : g.nodes)
        for (const auto& in : n.inputs)
          if (in == m && who.empty()) who = n.name;
      list += "\n    '" + m + "'" + (who.empty() ? " (a graph output)" : " read by node '" + who + "'");
    }
    throw Error(std::to_string(missing.size()) +
                " value(s) are used but never defined (missing initializers or inputs):" + list)
        .file(context)
        .expected("every value read to be a graph input, an initializer or a node output")
        .hint("the file is incomplete; re-export it, or check that external data was saved");
  }
  std::set<std::string> produced;
  for (const auto& n : g.nodes)
    for (const auto& o : n.outputs)
      if (!o.empty() && !produced.insert(o).second)
        throw Error("value '" + o + "' is produced by more than one node")
            .file(context)
            .node(n.name)
            .hint("ONNX graphs are in SSA form: every value has exactly one producer");
  try {
    g.toposort();
  } catch (Error& e) {
    throw e.file(context);
  }
  // Attribute kinds against the ONNX schemas: all problems at once, before any op sees them.
  std::vector<AttributeProblem> problems = attribute_problems(g);
  const std::string checker_hint =
      "the exporter wrote a malformed node; `python3 -c \"import onnx; "
      "onnx.checker.check_model('FILE')\"` shows the same";
  if (problems.size() == 1) {
    const AttributeProblem& p = problems.front();
    throw Error(p.got == "missing" ? p.op_type + " requires attribute '" + p.attribute + "', which is missing"
                                   : "attribute '" + p.attribute + "' of " + p.op_type + " has the wrong kind")
        .file(context)
        .node(p.node)
        .expected(p.expected)
        .got(p.got)
        .hint(checker_hint);
  }
  if (!problems.empty()) {
    std::string list;
    for (const auto& p : problems) list += "\n    " + p.text();
    throw Error(std::to_string(problems.size()) + " node attributes do not match the ONNX operator schemas:" + list)
        .file(context)
        .hint(checker_hint);
  }
  return g;
}

ir::Graph load_onnx(const std::string& path) {
  onnx::ModelProto model = read_model_proto(path);
  std::string base_dir = fs::path(path).parent_path().string();
  if (base_dir.empty()) base_dir = ".";
  return graph_from_model(model, base_dir, path);
}

ir::Graph load_onnx_from_bytes(const std::string& bytes, const std::string& base_dir, const std::string& context) {
  return graph_from_model(model_proto_from_bytes(bytes, context), base_dir, context);
}

}  // namespace pare::io
