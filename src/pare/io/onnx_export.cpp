// ir::Graph -> ModelProto. Initializers are written as raw little-endian data (or external data for
// large models); the model is checked with onnx::checker before it is renamed into place.
#include "pare/io/onnx_export.h"

#include <onnx/checker.h>
#include <onnx/shape_inference/implementation.h>

#include <filesystem>
#include <fstream>

#include "pare/error.h"
#include "pare/io/atomic_file.h"
#include "pare/io/onnx_tensor.h"

namespace pare::io {
namespace fs = std::filesystem;

namespace {

void value_info_to_proto(const ir::ValueInfo& v, onnx::ValueInfoProto* p) {
  p->set_name(v.name);
  if (!v.doc.empty()) p->set_doc_string(v.doc);
  if (v.dtype == ir::DType::Undefined && !v.shape) return;
  auto* tt = p->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(static_cast<int32_t>(v.dtype));
  if (v.shape) {
    auto* shape = tt->mutable_shape();
    for (const auto& d : *v.shape) {
      auto* dp = shape->add_dim();
      if (d.known())
        dp->set_dim_value(d.value);
      else if (!d.param.empty())
        dp->set_dim_param(d.param);
    }
  }
}

void graph_to_proto(const ir::Graph& g, onnx::GraphProto* gp);

void attribute_to_proto(const std::string& name, const ir::Attribute& a, onnx::AttributeProto* p) {
  using K = ir::Attribute::Kind;
  p->set_name(name);
  switch (a.kind) {
    case K::Int:
      p->set_type(onnx::AttributeProto::INT);
      p->set_i(a.i);
      break;
    case K::Float:
      p->set_type(onnx::AttributeProto::FLOAT);
      p->set_f(static_cast<float>(a.f));
      break;
    case K::String:
      p->set_type(onnx::AttributeProto::STRING);
      p->set_s(a.s);
      break;
    case K::Tensor:
      p->set_type(onnx::AttributeProto::TENSOR);
      tensor_to_proto(a.t, "", p->mutable_t());
      break;
    case K::Graph:
      p->set_type(onnx::AttributeProto::GRAPH);
      graph_to_proto(*a.g, p->mutable_g());
      break;
    case K::Ints:
      p->set_type(onnx::AttributeProto::INTS);
      for (int64_t v : a.ints) p->add_ints(v);
      break;
    case K::Floats:
      p->set_type(onnx::AttributeProto::FLOATS);
      for (double v : a.floats) p->add_floats(static_cast<float>(v));
      break;
    case K::Strings:
      p->set_type(onnx::AttributeProto::STRINGS);
      for (const auto& v : a.strings) p->add_strings(v);
      break;
  }
}

void graph_to_proto(const ir::Graph& g, onnx::GraphProto* gp) {
  gp->set_name(g.name.empty() ? "pare" : g.name);
  if (!g.doc.empty()) gp->set_doc_string(g.doc);
  for (const auto& v : g.inputs) value_info_to_proto(v, gp->add_input());
  for (const auto& v : g.outputs) value_info_to_proto(v, gp->add_output());
  for (const auto& v : g.value_info) value_info_to_proto(v, gp->add_value_info());
  for (const auto& kv : g.initializers) tensor_to_proto(kv.second, kv.first, gp->add_initializer());
  for (const auto& n : g.nodes) {
    auto* np = gp->add_node();
    np->set_name(n.name);
    np->set_op_type(n.op_type);
    if (!n.domain.empty()) np->set_domain(n.domain);
    if (!n.doc.empty()) np->set_doc_string(n.doc);
    for (const auto& in : n.inputs) np->add_input(in);
    for (const auto& out : n.outputs) np->add_output(out);
    for (const auto& kv : n.attrs) attribute_to_proto(kv.first, kv.second, np->add_attribute());
  }
}

// onnx::checker requires a shape on every graph output; outputs the IR has no shape for (built by
// hand, or passes that changed them) get theirs from ONNX shape inference.
void fill_output_types(onnx::ModelProto* m) {
  bool missing = false;
  for (const auto& o : m->graph().output()) missing |= !o.type().tensor_type().has_shape();
  if (!missing) return;
  onnx::ModelProto inferred = *m;
  try {
    onnx::shape_inference::InferShapes(inferred);
  } catch (const std::exception&) {
    return;  // the checker will name the output that still lacks a type
  }
  // Inference writes output types in place (same order), intermediate ones into value_info.
  for (int i = 0; i < m->graph().output_size(); ++i) {
    auto* o = m->mutable_graph()->mutable_output(i);
    const auto& inferred_type = inferred.graph().output(i).type();
    if (!o->type().tensor_type().has_shape() && inferred_type.tensor_type().has_shape())
      *o->mutable_type() = inferred_type;
  }
}

}  // namespace

onnx::ModelProto graph_to_model(const ir::Graph& g) {
  onnx::ModelProto m;
  // IR version 8 goes with opset 17 (ONNX 1.12); older graphs keep the version they came with.
  m.set_ir_version(std::max<int64_t>(g.ir_version, 3));
  m.set_producer_name("pare");
  m.set_producer_version(PARE_VERSION);
  for (const auto& kv : g.opsets) {
    auto* o = m.add_opset_import();
    o->set_domain(kv.first);
    o->set_version(kv.second);
  }
  for (const auto& kv : g.metadata) {
    auto* p = m.add_metadata_props();
    p->set_key(kv.first);
    p->set_value(kv.second);
  }
  graph_to_proto(g, m.mutable_graph());
  fill_output_types(&m);
  return m;
}

void save_onnx(const ir::Graph& g, const std::string& path, const OnnxSaveOptions& options,
               const std::vector<std::string>& protected_inputs) {
  refuse_overwrite(path, protected_inputs);
  onnx::ModelProto m = graph_to_model(g);
  const std::string data_name = fs::path(path).filename().string() + ".data";
  const fs::path data_path = fs::path(path).parent_path() / data_name;
  bool wrote_external = false;
  if (options.external_data_min_bytes > 0) {
    // Move large initializers out of the protobuf into one data file, 64-byte aligned.
    write_atomic(
        data_path.string(),
        [&](std::ostream& out) {
          int64_t offset = 0;
          for (auto& t : *m.mutable_graph()->mutable_initializer()) {
            if (static_cast<int64_t>(t.raw_data().size()) < options.external_data_min_bytes) continue;
            int64_t pad = (64 - offset % 64) % 64;
            out << std::string(static_cast<size_t>(pad), '\0');
            offset += pad;
            out.write(t.raw_data().data(), static_cast<std::streamsize>(t.raw_data().size()));
            const int64_t len = static_cast<int64_t>(t.raw_data().size());
            t.clear_raw_data();
            t.set_data_location(onnx::TensorProto::EXTERNAL);
            auto add = [&](const std::string& k, const std::string& v) {
              auto* e = t.add_external_data();
              e->set_key(k);
              e->set_value(v);
            };
            add("location", data_name);
            add("offset", std::to_string(offset));
            add("length", std::to_string(len));
            offset += len;
            wrote_external = true;
          }
        },
        protected_inputs);
    if (!wrote_external) fs::remove(data_path);
  }
  if (m.ByteSizeLong() > static_cast<size_t>(INT32_MAX))
    throw Error("the model is larger than protobuf's 2 GiB limit")
        .file(path)
        .hint("save with external data (initializers above a size go to FILE.data)");
  if (options.check) {
    try {
      if (wrote_external) {
        onnx::checker::CheckerContext ctx;
        ctx.set_ir_version(static_cast<int>(m.ir_version()));
        std::unordered_map<std::string, int> opset_map;
        for (const auto& o : m.opset_import()) opset_map[o.domain()] = static_cast<int>(o.version());
        ctx.set_opset_imports(opset_map);
        ctx.set_model_dir(fs::path(path).parent_path().string());
        onnx::checker::LexicalScopeContext lex;
        onnx::checker::check_graph(m.graph(), ctx, lex);
      } else {
        onnx::checker::check_model(m);
      }
    } catch (const std::exception& e) {
      throw Error(std::string("the exported model fails onnx::checker: ") + e.what())
          .file(path)
          .hint("this is a pare bug unless the graph was built by hand; `pare info` on the input may show why");
    }
  }
  write_atomic(
      path,
      [&](std::ostream& out) {
        if (!m.SerializeToOstream(&out)) throw Error("serializing the ONNX model failed").file(path);
      },
      protected_inputs);
}

}  // namespace pare::io
