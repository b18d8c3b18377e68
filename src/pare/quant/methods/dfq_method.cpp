// DFQ as a registry entry (docs/methods/dfq.md): cross-layer equalization after BatchNorm folding, RTN
// weights, then bias correction from the modelled input means (dfq.h). ONNX graphs only.
#include "pare/quant/methods/all_methods.h"
#include "pare/quant/methods/dfq.h"
#include "pare/quant/methods/rtn.h"

namespace pare::quant {

namespace {

void equalize(GraphStage& s) { s.state = cross_layer_equalize(s.folded, s.stats); }

void correct(GraphStage& s) {
  DfqReport& report = std::any_cast<DfqReport&>(s.state);
  correct_biases(*s.qdq, s.folded, *s.layers, s.stats, report);
  for (auto& l : *s.layers) {
    if (!l.plan.quantize) continue;
    for (const auto& d : report.layers)
      if (d.node == l.plan.layer.node) {
        if (l.fields.is_null()) l.fields = nlohmann::json::object();
        l.fields["dfq_equalized"] = d.equalized;
        l.fields["dfq_bias_corrected"] = d.bias_corrected;
        if (!d.note.empty()) l.fields["dfq_note"] = d.note;
      }
  }
}

}  // namespace

Method dfq_method() {
  Method m;
  m.name = "dfq";
  m.summary = "data-free quantization (Nagel et al. 2019): cross-layer equalization, RTN, bias correction";
  m.doc = "docs/methods/dfq.md";
  m.models = {ModelKind::Graph};
  m.refusals[ModelKind::Llama] =
      "DFQ equalizes across ReLU and corrects biases from BatchNorm statistics; a Llama has neither";
  m.weight = [](const WeightJob& job) { return LayerWeight{rtn_weight(job), "", nullptr}; };
  m.after_fold = equalize;
  m.after_weights = correct;
  return m;
}

}  // namespace pare::quant
