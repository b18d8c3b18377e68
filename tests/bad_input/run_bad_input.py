#!/usr/bin/env python3
# Runs the pare CLI on every broken file of tests/bad_input/files and checks how it fails: exit code exactly 2
# (no signal, no internal error), a message that names the file (and node/tensor) and what was expected, no
# output left in --output-dir, and every input file byte-for-byte unchanged. Standard library only.
# Usage: run_bad_input.py PARE_BINARY CORPUS_DIR
import glob
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

# (name, argv after `pare`, expected exit code, substrings the output must hold; "!TEXT": must not hold). {F}:
# the corpus copy, {OUT}: a fresh --output-dir that does not exist yet. A case expecting exit code 2 also
# fails when anything (a table, a progress bar) was printed before the error.
MODEL_CASES = [
    ("truncated.onnx", ["protobuf cannot be parsed", "expected: a serialized onnx.ModelProto"]),
    ("random_bytes.onnx", ["protobuf cannot be parsed", "expected: a serialized onnx.ModelProto"]),
    ("text_file.onnx", ["protobuf cannot be parsed", "expected: a serialized onnx.ModelProto"]),
    ("empty.onnx", ["model file is empty", "expected: an ONNX protobuf", "got:      0 bytes"]),
    ("missing_initializer.onnx", ["'W' read by node 'add0'", "expected: every value read to be"]),
    ("external_missing.onnx", ["tensor 'W'", "external_missing.bin' is missing"]),
    ("external_truncated.onnx", ["tensor 'W'", "external_truncated.bin' is too short",
                                 "expected: 12 bytes at offset 0", "got:      a file of 8 bytes"]),
    ("external_escape.onnx", ["tensor 'W'", "leaves the model's folder"]),
    ("external_bad_offset.onnx", ["tensor 'W'", "'offset' is not a byte count", "expected: a non-negative integer",
                                  "got:      'eight'"]),
    ("wrong_attribute_kind.onnx", ["node 'softmax0'", "attribute 'axis' of Softmax", "expected: int",
                                   "got:      string"]),
    ("opset_too_new.onnx", ["opset 99", "expected: opset 1 to 17"]),
    ("negative_dim.onnx", ["tensor 'W'", "negative dimension", "expected: dimensions >= 0", "got:      [-1, 3]"]),
    ("raw_data_wrong_size.onnx", ["tensor 'W'", "expected: 12 bytes for float32[3]", "got:      8 bytes"]),
    ("cycle.onnx", ["node 'cyc_", "cycle"]),
    ("duplicate_producer.onnx", ["node 'dup_b'", "value 'y' is produced by more than one node"]),
]

RUN = ["run", "{F}/good.onnx", "--output-dir", "{OUT}"]
CASES = []
for model, needles in MODEL_CASES:
    CASES.append(("info " + model, ["info", "{F}/" + model], 2, [model] + needles))
    CASES.append(("run " + model, ["run", "{F}/" + model, "-i", "x={F}/good_x.npy", "-o", "{OUT}"], 2,
                  [model] + needles))
CASES += [
    ("info missing file", ["info", "{F}/does_not_exist.onnx"], 2, ["does_not_exist.onnx", "does not exist"]),
    ("info folder", ["info", "{F}"], 2, ["expected an ONNX file but got a folder"]),
    # Unsupported ops: `info` lists them all and succeeds; `run` refuses, naming every op and node at once.
    ("info unknown_op.onnx", ["info", "{F}/unknown_op.onnx"], 0, ["FrobnicateXYZ (ai.onnx, opset 17): relu0"]),
    ("run unknown_op.onnx", ["run", "{F}/unknown_op.onnx", "-i", "x={F}/good_x.npy", "-o", "{OUT}"], 2,
     ["unknown_op.onnx", "FrobnicateXYZ (ai.onnx, opset 17): relu0"]),
    ("info several_unsupported.onnx", ["info", "{F}/several_unsupported.onnx"], 0,
     ["unsupported ops: 3", "Frobnicate (ai.onnx, opset 17): frob_a, frob_b", "Quux (com.example, opset 1): quux_a",
      "Zorble (ai.onnx, opset 17): zorble_a"]),
    ("run several_unsupported.onnx", ["run", "{F}/several_unsupported.onnx", "-i", "x={F}/good_x.npy", "-o", "{OUT}"],
     2, ["several_unsupported.onnx", "3 op type(s)", "Frobnicate (ai.onnx, opset 17): frob_a, frob_b",
         "Quux (com.example, opset 1): quux_a", "Zorble (ai.onnx, opset 17): zorble_a"]),
    # Names that are not valid UTF-8 are printed with U+FFFD, not turned into an internal error.
    ("info --json bad_utf8_names.onnx", ["info", "--json", "{F}/bad_utf8_names.onnx"], 0, ['"graph": "graph_\ufffd']),
    # NPY inputs that are broken, or do not fit the model's input x: float32[1, 3].
    ("npy bad magic", RUN + ["-i", "x={F}/bad_magic.npy"], 2,
     ["bad_magic.npy", "bad magic", "expected: a file starting with the NPY magic", "got:      first bytes"]),
    ("npy empty", RUN + ["-i", "x={F}/empty.npy"], 2, ["empty.npy", "NPY file is empty", "got:      0 bytes"]),
    ("npy unsupported dtype", RUN + ["-i", "x={F}/unsupported_dtype.npy"], 2,
     ["unsupported_dtype.npy", "'<c8'", "expected: one of <f4"]),
    ("npy big endian", RUN + ["-i", "x={F}/big_endian.npy"], 2, ["big_endian.npy", "'>f4'", "expected: one of <f4"]),
    ("npy truncated body", RUN + ["-i", "x={F}/truncated_body.npy"], 2,
     ["truncated_body.npy", "expected: 12 bytes for <f4[1, 3]", "got:      7 bytes"]),
    ("npy wrong shape", RUN + ["-i", "x={F}/wrong_shape.npy"], 2,
     ["wrong_shape.npy", "tensor 'x'", "wrong shape", "expected: [1, 3]", "got:      [2, 5]", "good.onnx"]),
    ("npy wrong dtype", RUN + ["-i", "x={F}/wrong_dtype.npy"], 2,
     ["wrong_dtype.npy", "tensor 'x'", "wrong element type", "expected: float32", "got:      int64", "good.onnx"]),
    ("npy zero dim next to huge ones", RUN + ["-i", "x={F}/zero_dim_overflow.npy"], 2,
     ["zero_dim_overflow.npy", "implausibly large", "expected: at most 2^40 elements"]),
    ("npy missing file", RUN + ["-i", "x={F}/nope.npy"], 2, ["nope.npy", "does not exist"]),
    ("npy is a folder", RUN + ["-i", "x={F}"], 2, ["expected an NPY file but got a folder"]),
    # Inputs that are missing, unknown or doubled.
    ("no inputs", RUN, 2, ["good.onnx", "missing input(s): x float32[1, 3]", "expected: a value for each of: x"]),
    ("missing second input", ["run", "{F}/two_inputs.onnx", "-i", "a={F}/good_x.npy", "-o", "{OUT}"], 2,
     ["two_inputs.onnx", "missing input(s): b float32[1, 3]", "expected: a value for each of: a, b"]),
    ("unknown input name", RUN + ["-i", "nope={F}/good_x.npy"], 2,
     ["good.onnx", "no input named 'nope'", "expected: one of: x"]),
    ("input given twice", RUN + ["-i", "x={F}/good_x.npy", "-i", "x={F}/good_x.npy"], 2,
     ["good.onnx", "input 'x' is given twice"]),
    ("input without name, two inputs", ["run", "{F}/two_inputs.onnx", "-i", "{F}/good_x.npy", "-o", "{OUT}"], 2,
     ["two_inputs.onnx", "has no NAME=", "expected: --input NAME=FILE.npy with NAME one of: a, b"]),
    # Outputs that would land on a file or overwrite an input.
    ("output dir is a file", ["run", "{F}/good.onnx", "-i", "x={F}/good_x.npy", "-o", "{F}/good_x.npy"], 2,
     ["good_x.npy", "--out exists and is not a folder"]),
    ("output would overwrite input", ["run", "{F}/good.onnx", "-i", "x={F}/inputs/y.npy", "-o", "{F}/inputs"], 2,
     ["y.npy", "refusing to overwrite an input file", "output 'y' would replace it"]),
]
# Safetensors files and Hugging Face model folders (made by make_corpus.py): `pare info` names the file (or the
# index / shard) and the tensor or field, with what was expected.
SAFETENSORS_CASES = [
    ("st_empty.safetensors", ["safetensors file is empty", "got:      0 bytes"]),
    ("st_truncated_header.safetensors", ["header runs past the end of the file", "expected: ", "a file of 20 bytes"]),
    ("st_truncated_buffer.safetensors", ["tensor 'mask'", "run past the end of the buffer", "got:      [78, 81]"]),
    ("st_header_too_large.safetensors", ["header length is implausibly large", "expected: at most 100000000 bytes"]),
    ("st_not_json.safetensors", ["header is not valid JSON", "got:      [json.exception.parse_error"]),
    ("st_not_object.safetensors", ["not a JSON object", "got:      first bytes '[1, 2, 3]'"]),
    ("st_unknown_dtype.safetensors", ["tensor 'w'", "unknown dtype 'Q4_K'", "expected: one of F32 F16 BF16"]),
    ("st_negative_dim.safetensors", ["tensor 'w'", "field 'shape' holds a negative number", "got:      [-1,3]"]),
    ("st_numel_overflow.safetensors", ["tensor 'w'", "shape is implausibly large", "at most 2^40 elements"]),
    ("st_size_mismatch.safetensors", ["tensor 'w'", "do not match the dtype and shape",
                                      "expected: 24 bytes for F32[2, 3]", "got:      20 bytes"]),
    ("st_offsets_past_end.safetensors", ["tensor 'w'", "run past the end of the buffer", "got:      [0, 24]"]),
    ("st_overlap.safetensors", ["tensor 'b'", "overlaps 'a'", "got:      [8, 20]"]),
    ("st_hole.safetensors", ["tensor 'b'", "hole of 4 bytes", "expected: data_offsets starting at 12"]),
    ("st_trailing.safetensors", ["4 bytes after the last tensor"]),
    ("st_duplicate_name.safetensors", ["tensor 'w'", "appears twice"]),
    ("st_bad_metadata.safetensors", ["'__metadata__'", "non-string value for key 'format'"]),
    ("st_missing_shard", ["model.safetensors.index.json", "tensor 'lm_head.weight'",
                          "shard 'model-00002-of-00002.safetensors' named by the index does not exist"]),
    ("st_index_not_json", ["model.safetensors.index.json", "shard index is not valid JSON"]),
    ("st_index_no_weight_map", ["model.safetensors.index.json", "no 'weight_map'"]),
    ("st_index_wrong_shard", ["model-00002-of-00002.safetensors", "tensor 'model.norm.weight'", "which lacks it",
                              "got:      it is in", "model-00001-of-00002.safetensors"]),
    ("st_duplicate_across_shards", ["tensor 'model.norm.weight'", "stored in two shards"]),
    ("st_shard_escape", ["tensor 'model.embed_tokens.weight'", "leaves the model's folder",
                         "got:      '../st_good.safetensors'"]),
    ("st_shards_no_index", ["st_shards_no_index", "several safetensors files but no model.safetensors.index.json"]),
]
for name, needles in SAFETENSORS_CASES:
    CASES.append(("info " + name, ["info", "{F}/" + name], 2, [name] + needles))
CASES += [
    ("info st_good.safetensors", ["info", "{F}/st_good.safetensors"], 0,
     ["st_good.safetensors", "format=pt", "tensors     5 (24 parameters", "proj.weight", "bfloat16", "[2, 2]",
      "position_ids"]),
    ("info --json st_good.safetensors", ["info", "--json", "{F}/st_good.safetensors"], 0,
     ['"format": "safetensors"', '"name": "norm.weight"', '"dtype": "float16"', '"stored_dtype": "F16"',
      '"parameters": 24']),
    ("info st_sharded", ["info", "{F}/st_sharded"], 0,
     ["files       2", "lm_head.weight", "model-00002-of-00002.safetensors", "tensors     3 (10 parameters"]),
    ("info st_sharded index", ["info", "{F}/st_sharded/model.safetensors.index.json"], 0, ["lm_head.weight"]),
    ("info missing safetensors", ["info", "{F}/nope.safetensors"], 2, ["nope.safetensors", "does not exist"]),
]
# GGUF files (made by make_corpus.py): `pare info` names the file and the metadata key or tensor, with what was
# expected; gguf_good.gguf is the control.
GGUF_CASES = [
    ("gguf_empty.gguf", ["GGUF file is empty", "got:      0 bytes"]),
    ("gguf_bad_magic.gguf", ["not a GGUF file (bad magic)", "expected: the bytes 'GGUF' at offset 0",
                             "got:      'GGML'"]),
    ("gguf_version1.gguf", ["unsupported GGUF version 1", "expected: version 2 or 3"]),
    ("gguf_big_endian.gguf", ["looks byte-swapped (a big-endian file?)"]),
    ("gguf_truncated.gguf", ["metadata 'tokenizer.ggml.tokens'", "the file is truncated or damaged"]),
    ("gguf_tensor_count_absurd.gguf", ["tensor count is larger than the file could hold",
                                       "got:      1099511627776"]),
    ("gguf_kv_count_absurd.gguf", ["metadata count is larger than the file could hold", "got:      1099511627776"]),
    ("gguf_string_past_end.gguf", ["metadata 'general.name'", "string length runs past the end of the file",
                                   "got:      1099511627776 bytes"]),
    ("gguf_array_absurd.gguf", ["metadata 'tokenizer.ggml.tokens'", "array length is larger than the file could hold",
                                "got:      1125899906842624"]),
    ("gguf_unknown_value_type.gguf", ["metadata 'general.weird'", "unknown value type", "got:      13"]),
    ("gguf_bad_bool.gguf", ["metadata 'general.flag'", "bool value is neither 0 nor 1", "got:      7"]),
    ("gguf_duplicate_key.gguf", ["metadata 'general.name'", "duplicate metadata key"]),
    ("gguf_bad_alignment.gguf", ["metadata 'general.alignment' is not a usable alignment", "got:      48"]),
    ("gguf_n_dims_0.gguf", ["tensor 'blk.0.attn_q.weight'", "unsupported number of dimensions", "expected: 1 to 4",
                            "got:      0"]),
    ("gguf_n_dims_5.gguf", ["tensor 'blk.0.attn_q.weight'", "unsupported number of dimensions", "got:      5"]),
    ("gguf_dims_overflow.gguf", ["tensor 'token_embd.weight'", "tensor shape overflows",
                                 "got:      ne = [1099511627776, 1099511627776]"]),
    ("gguf_unknown_type.gguf", ["tensor 'output.weight'", "unknown ggml tensor type", "got:      type id 77"]),
    ("gguf_row_not_block.gguf", ["tensor 'blk.0.attn_k.weight'", "not a multiple of the Q4_0 block size",
                                 "got:      ne = [33, 2]"]),
    ("gguf_data_past_end.gguf", ["tensor 'token_embd.weight'", "tensor data runs past the end of the file",
                                 "expected: 4096 bytes"]),
    ("gguf_misaligned.gguf", ["tensor 'output_norm.weight'", "not a multiple of the alignment",
                              "expected: a multiple of 32", "got:      4"]),
    ("gguf_overlap.gguf", ["tensor 'blk.0.ffn_norm.weight'", "overlaps another tensor's",
                           "(the end of 'output_norm.weight')"]),
    ("gguf_duplicate_tensor.gguf", ["tensor 'output_norm.weight'", "duplicate tensor name"]),
]
for name, needles in GGUF_CASES:
    CASES.append(("info " + name, ["info", "{F}/" + name], 2, [name] + needles))
CASES += [
    ("info gguf_good.gguf", ["info", "{F}/gguf_good.gguf"], 0,
     ["gguf_good.gguf (GGUF v3", "arr[str,20]", '["<unk>", "<s>", "</s>", "tok0"', "token_embd.weight", "Q8_0",
      "[4, 32]", "total      4 tensors, 256 weights"]),
    ("info --json gguf_good.gguf", ["info", "--json", "{F}/gguf_good.gguf"], 0,
     ['"format": "gguf"', '"key": "tokenizer.ggml.tokens"', '"element_type": "str"', '"type": "Q4_0"']),
    ("info missing gguf", ["info", "{F}/nope.gguf"], 2, ["nope.gguf", "GGUF file does not exist"]),
]

# LLM folders for `pare ppl`: the config and the weights are checked before any layer runs.
PPL = ["--tokens", "{F}/llama_tokens.npy", "--ctx", "8", "--json", "{OUT}/ppl.json"]
CASES += [
    ("ppl llama_good", ["ppl", "{F}/llama_good"] + PPL[:-2], 0, ["perplexity", "protocol    windows, ctx 8"]),
    ("ppl llama_missing_field", ["ppl", "{F}/llama_missing_field"] + PPL, 2,
     ["llama_missing_field/config.json", "config field 'hidden_size': missing"]),
    ("ppl llama_shape_mismatch", ["ppl", "{F}/llama_shape_mismatch"] + PPL, 2,
     ["llama_shape_mismatch", "tensor 'model.layers.0.mlp.gate_proj.weight'", "does not match config.json",
      "expected: [32, 8]", "got:      [16, 8]"]),
    ("ppl llama_missing_tensor", ["ppl", "{F}/llama_missing_tensor"] + PPL, 2,
     ["llama_missing_tensor", "tensor 'model.layers.0.mlp.up_proj.weight'", "lacks a tensor its config needs"]),
    ("ppl llama_bad_gqa", ["ppl", "{F}/llama_bad_gqa"] + PPL, 2,
     ["llama_bad_gqa/config.json", "num_key_value_heads", "must divide num_attention_heads"]),
    ("ppl llama_rope_scaling", ["ppl", "{F}/llama_rope_scaling"] + PPL, 2,
     ["llama_rope_scaling/config.json", "rope_scaling", "not supported"]),
    ("ppl llama_not_llama", ["ppl", "{F}/llama_not_llama"] + PPL, 2,
     ["llama_not_llama/config.json", "expected: LlamaForCausalLM", "got:      GPT2LMHeadModel"]),
    ("ppl tokens out of vocabulary", ["ppl", "{F}/llama_good", "--tokens", "{F}/llama_tokens_out_of_vocab.npy",
                                      "--ctx", "8", "--json", "{OUT}/ppl.json"], 2,
     ["llama_good", "token id is outside the model's vocabulary", "expected: ids 0 to 15", "got:      ids 3 to 99"]),
    ("ppl text without tokenizer", ["ppl", "{F}/llama_good", "--text", "{F}/llama_tokens.npy", "--ctx", "8"], 2,
     ["llama_good", "no tokenizer.model", "--tokenizer"]),
]

# Llama quantization (weights only, streamed into a .pare package) and Llama packages. llama_q.pare and its
# damaged copies are made by make_llama_fixtures() below.
LQ = ["quantize", "{F}/llama_good", "--wbits", "4"]
CASES += [
    ("quantize llama", LQ + ["--out", "{OUT}/q.pare"], 0, ["bits/weight over the quantized layers", "wrote"]),
    ("quantize llama with activation bits", LQ + ["--abits", "8", "--out", "{OUT}/q.pare"], 2,
     ["llama_good", "weights-only", "--abits 0"]),
    ("quantize llama with calibration data", LQ + ["--calib", "brown:train", "--out", "{OUT}/q.pare"], 2,
     ["takes no calibration data"]),
    ("quantize llama to onnx", LQ + ["--out", "{OUT}/q.onnx"], 2, ["q.onnx", "written as a .pare package"]),
    ("quantize llama exclusion matching nothing", LQ + ["--exclude", "decoder\\..*", "--out", "{OUT}/q.pare"], 2,
     ["exclusion 'decoder\\..*' matches no quantizable layer", "model.layers.0.self_attn.q_proj.weight"]),
    ("quantize llama first-last", LQ + ["--first-last", "int8", "--out", "{OUT}/q.pare"], 2,
     ["first_last does not apply to Llama models"]),
    ("quantize llama over a work folder of other settings",
     ["quantize", "{F}/llama_good", "--wbits", "3", "--out", "{F}/llm/stale.pare"], 2,
     ["stale.pare.partial", "unfinished quantization with other settings", "/version: folder 1, now 2",
      "delete the folder"]),
    ("ppl llama package", ["ppl", "{F}/llm/llama_q.pare"] + PPL[:-2], 0, ["(pare)", "perplexity"]),
    ("ppl truncated llama package", ["ppl", "{F}/llm/truncated.pare"] + PPL, 2,
     ["truncated.pare", "runs past the end of the file"]),
    ("ppl llama package with a flipped byte", ["ppl", "{F}/llm/flipped.pare"] + PPL, 2,
     ["flipped.pare", "fails its checksum"]),
    ("ppl llama package missing a tensor", ["ppl", "{F}/llm/missing_tensor.pare"] + PPL, 2,
     ["missing_tensor.pare", "tensor 'model.layers.0.mlp.down_proj.weight'", "lacks a tensor its config needs"]),
    ("run a safetensors file", ["run", "{F}/llama_good/model.safetensors", "-i", "x={F}/good_x.npy", "-o", "{OUT}"], 2,
     ["model.safetensors", "expected an ONNX file but got a safetensors file", "pare ppl"]),
    ("eval a Llama folder", ["eval", "{F}/llama_good", "--data", "npy:{F}/train/good"], 2,
     ["llama_good", "got a model folder (Hugging Face layout)", "pare ppl"]),
    ("run a GGUF file", ["run", "{F}/gguf_good.gguf", "-i", "x={F}/good_x.npy", "-o", "{OUT}"], 2,
     ["gguf_good.gguf", "expected an ONNX file but got a GGUF file"]),
    ("eval llama package", ["eval", "{F}/llm/llama_q.pare", "--data", "npy:{F}/train/good"], 2,
     ["llama_q.pare", "package holds no graph", "pare ppl"]),
]

# Training and evaluation: every mistake is caught before the first step, and nothing is written.
# The models and datasets these use are made by make_training_fixtures() below.
TRAIN = ["train", "{F}/train/zoo8.onnx", "--epochs", "1", "--batch-size", "4", "--out", "{OUT}/trained.onnx"]
CASES += [
    ("train label out of range", TRAIN + ["--data", "npy:{F}/train/labels_out_of_range"], 2,
     ["labels_out_of_range", "outside the model's 10 classes", "expected: labels from 0 to 9",
      "got:      labels from 0 to 12"]),
    ("train val label out of range", TRAIN + ["--data", "npy:{F}/train/good", "--val",
                                              "npy:{F}/train/labels_out_of_range"], 2,
     ["labels_out_of_range", "outside the model's 10 classes"]),
    ("train sample shape mismatch", TRAIN + ["--data", "npy:{F}/train/wrong_size"], 2,
     ["wrong_size", "do not fit the model input", "tensor 'input'", "expected: [N, 1, 28, 28]",
      "got:      [8, 1, 32, 32]"]),
    ("eval sample shape mismatch", ["eval", "{F}/train/zoo8.onnx", "--data", "npy:{F}/train/wrong_size"], 2,
     ["wrong_size", "do not fit the model input"]),
    ("eval label out of range", ["eval", "{F}/train/zoo8.onnx", "--data", "npy:{F}/train/labels_out_of_range"], 2,
     ["labels_out_of_range", "outside the model's 10 classes"]),
    ("train missing dataset", TRAIN + ["--data", "npy:{F}/train/nope"], 2, ["nope"]),
    ("train checkpoint of another model", TRAIN + ["--data", "npy:{F}/train/good", "--resume", "--checkpoint",
                                                   "{F}/train/other.ckpt"], 2,
     ["other.ckpt", "checkpoint was made from another model", "hint:"]),
    ("train damaged checkpoint", TRAIN + ["--data", "npy:{F}/train/good", "--resume", "--checkpoint",
                                          "{F}/train/damaged.ckpt"], 2,
     ["damaged.ckpt", "not a pare training checkpoint or is damaged"]),
    ("train resume without checkpoint", TRAIN + ["--data", "npy:{F}/train/good", "--resume", "--checkpoint",
                                                 "{F}/train/none.ckpt"], 2, ["none.ckpt", "cannot open checkpoint"]),
    ("train out overwrites model", ["train", "{F}/train/zoo8.onnx", "--data", "npy:{F}/train/good", "--out",
                                    "{F}/train/zoo8.onnx"], 2, ["zoo8.onnx", "refusing to overwrite"]),
    ("train bad augmentation", TRAIN + ["--data", "npy:{F}/train/good", "--augment", "rotate:10"], 2,
     ["unknown augmentation 'rotate:10'"]),
    ("train bigger batch than data", TRAIN[:-4] + ["--batch-size", "64", "--data", "npy:{F}/train/good", "--out",
                                                   "{OUT}/trained.onnx"], 2,
     ["fewer samples than one batch", "lower --batch-size"]),
]

# KL divergence against a reference (pare ppl MODEL --ref REF): vocabularies, tokenizers and stored references are
# checked before any layer runs. The stored references are made by make_kld_fixtures() below.
KLD = ["--tokens", "{F}/llama_tokens.npy", "--ctx", "8", "--json", "{OUT}/ppl.json"]
REF8 = "{F}/kld/ref_ctx8.safetensors"
CASES += [
    ("ppl --ref itself", ["ppl", "{F}/llama_good", "--ref", "{F}/llama_good"] + KLD[:-2], 0,
     ["KLD         mean 0 +- 0", "top-1 same  100.00 %", "ratio 1.00000"]),
    ("ppl --ref stored", ["ppl", "{F}/llama_good", "--ref", REF8, "--tokens", "{F}/llama_tokens.npy"], 0,
     ["stored reference of", "ctx 8", "KLD         mean 0 +- 0", "top-1 same  100.00 %"]),
    ("ppl --ref same tokenizer", ["ppl", "{F}/llama_tok_a.gguf", "--ref", "{F}/llama_tok_a.gguf", "--text",
                                  "{F}/llama_text.txt", "--ctx", "8"], 0, ["vocabulary  the same (16 pieces"]),
    ("ppl --ref other vocab size", ["ppl", "{F}/llama_good", "--ref", "{F}/llama_vocab32"] + KLD, 2,
     ["llama_vocab32 (reference) and", "llama_good (model)", "vocab_size differs",
      "expected: vocab_size 32 (the reference's)", "got:      vocab_size 16 (the model's)"]),
    ("ppl --ref other tokenizer", ["ppl", "{F}/llama_tok_b.gguf", "--ref", "{F}/llama_tok_a.gguf", "--text",
                                   "{F}/llama_text.txt", "--ctx", "8", "--json", "{OUT}/ppl.json"], 2,
     ["llama_tok_a.gguf (reference) and", "llama_tok_b.gguf (model)", "different tokenizers (piece 9)",
      "'\u2581is' (normal)", "'\u2581at' (normal)"]),
    ("ppl stored reference of another ctx", ["ppl", "{F}/llama_good", "--ref", REF8] + KLD[:2] + ["--ctx", "10"] +
     KLD[4:], 2, ["ref_ctx8.safetensors", "made with another ctx", "expected: ctx 10 (this run)",
                  "got:      ctx 8 (stored)", "--ctx 8"]),
    ("ppl stored reference of another protocol", ["ppl", "{F}/llama_good", "--ref", REF8, "--protocol", "llamacpp"] +
     KLD, 2, ["ref_ctx8.safetensors", "another protocol", "llamacpp (this run)", "windows (stored)"]),
    ("ppl stored reference of another text", ["ppl", "{F}/llama_good", "--ref", REF8, "--tokens",
                                              "{F}/llama_tokens_other.npy", "--json", "{OUT}/ppl.json"], 2,
     ["ref_ctx8.safetensors", "made with another text", "40 tokens, fnv1a64:"]),
    ("ppl stored reference of another tokenizer", ["ppl", "{F}/llama_tok_b.gguf", "--ref",
                                                   "{F}/kld/ref_tok_a.safetensors", "--text", "{F}/llama_text.txt",
                                                   "--json", "{OUT}/ppl.json"], 2,
     ["ref_tok_a.safetensors", "made with another tokenizer", "llama_tok_a.gguf", "llama_tok_b.gguf"]),
    ("ppl stored reference of another vocab size", ["ppl", "{F}/llama_vocab32", "--ref", REF8] + KLD, 2,
     ["ref_ctx8.safetensors", "another vocab_size", "16 (stored)"]),
    ("ppl --ref safetensors that is no reference", ["ppl", "{F}/llama_good", "--ref",
                                                    "{F}/llama_good/model.safetensors"] + KLD, 2,
     ["model.safetensors", "not a stored pare reference", "--save-ref"]),
    ("ppl --save-ref with a stored --ref", ["ppl", "{F}/llama_good", "--ref", REF8, "--save-ref", "{OUT}/r.safetensors"]
     + KLD, 2, ["ref_ctx8.safetensors", "stored already"]),
    ("ppl --save-ref over the model's weights", ["ppl", "{F}/llama_good", "--save-ref",
                                                 "{F}/llama_good/model.safetensors"] + KLD, 2,
     ["model.safetensors", "refusing to overwrite"]),
]

# npz: archives and folder: image datasets that are broken (corpus files from make_corpus.py; the class folders
# are assembled by make_image_fixtures() below). Loading fails before any evaluation, naming the file/member/image.
EVAL = ["eval", "{F}/train/zoo8.onnx", "--data"]
CASES += [
    ("eval npz good", EVAL + ["npz:{F}/good.npz"], 0, ["top-1"]),
    ("eval npz truncated", EVAL + ["npz:{F}/npz_truncated.npz"], 2,
     ["npz_truncated.npz", "truncated or damaged", "expected: a complete zip archive"]),
    ("eval npz empty", EVAL + ["npz:{F}/npz_empty.npz"], 2, ["npz_empty.npz", "NPZ file is empty", "got:      0 bytes"]),
    ("eval npz not a zip", EVAL + ["npz:{F}/npz_not_zip.npz"], 2, ["npz_not_zip.npz", "not an NPZ file", "hint:"]),
    ("eval npz without inputs", EVAL + ["npz:{F}/npz_no_inputs.npz"], 2,
     ["npz_no_inputs.npz", "no array 'inputs' (or 'x')", "got:      arrays images, labels"]),
    ("eval npz labels mismatch", EVAL + ["npz:{F}/npz_labels_mismatch.npz"], 2,
     ["npz_labels_mismatch.npz, member 'labels.npy'", "expected: integer labels of shape [4]", "got:      int64[3]"]),
    ("eval npz float labels", EVAL + ["npz:{F}/npz_float_labels.npz"], 2,
     ["npz_float_labels.npz, member 'labels.npy'", "integer labels", "got:      float32[4]"]),
    ("eval npz bad member", EVAL + ["npz:{F}/npz_bad_member.npz"], 2,
     ["npz_bad_member.npz, member 'inputs.npy'", "unsupported NPY dtype '<c8'"]),
    ("eval npz corrupt deflate", EVAL + ["npz:{F}/npz_corrupt_deflate.npz"], 2,
     ["npz_corrupt_deflate.npz, member 'inputs.npy'"]),
    ("eval npz missing", EVAL + ["npz:{F}/nope.npz"], 2, ["nope.npz", "does not exist"]),
    ("eval folder good", EVAL + ["folder:{F}/folders/good"], 0, ["top-1", "2 samples"]),
    ("eval folder truncated png", EVAL + ["folder:{F}/folders/truncated_png"], 2,
     ["img_truncated.png", "cannot decode PNG image", "got:      libpng:"]),
    ("eval folder png bad crc", EVAL + ["folder:{F}/folders/bad_crc_png"], 2,
     ["img_bad_crc.png", "cannot decode PNG image"]),
    ("eval folder truncated jpg", EVAL + ["folder:{F}/folders/truncated_jpg"], 2,
     ["img_truncated.jpg", "cannot decode JPEG image", "got:      libjpeg:"]),
    ("eval folder not an image", EVAL + ["folder:{F}/folders/not_image"], 2,
     ["img_not_image.jpg", "not a PNG or JPEG image"]),
    ("eval folder empty image", EVAL + ["folder:{F}/folders/empty_png"], 2, ["img_empty.png", "image file is empty"]),
    ("eval folder empty", EVAL + ["folder:{F}/folders/empty"], 2, ["empty", "no class subfolders"]),
    ("eval folder class without images", EVAL + ["folder:{F}/folders/empty_class"], 2,
     ["dog", "class folder 'dog' holds no images"]),
    ("eval folder missing", EVAL + ["folder:{F}/folders/nope"], 2, ["nope", "image folder does not exist"]),
    ("eval folder is a file", EVAL + ["folder:{F}/img_good.png"], 2, ["img_good.png", "got a file"]),
]

# pare quantize: every mistake is refused before calibration, and nothing is written. Packages: the corpus
# files (pkg_*.pare) plus a real package damaged at test time by make_quant_fixtures() below.
QUANT = ["quantize", "{F}/train/zoo8.onnx", "--out", "{OUT}/q.onnx"]
CASES += [
    ("quantize wbits 9", QUANT + ["--wbits", "9", "--abits", "0"], 2, ["wbits out of range", "expected: 2 to 8",
                                                                      "got:      9"]),
    ("quantize abits 1", QUANT + ["--abits", "1"], 2, ["abits out of range", "expected: 2 to 8 (0: keep in float)"]),
    ("quantize group not a power of two", QUANT + ["--abits", "0", "--granularity", "group:100"], 2,
     ["group size must be a power of two", "got:      100"]),
    ("quantize exclusion matches nothing", QUANT + ["--abits", "0", "--exclude", "conv_that_is_not_there"], 2,
     ["exclusion 'conv_that_is_not_there' matches no quantizable layer", "--dry-run"]),
    ("quantize no quantizable layer", ["quantize", "{F}/good.onnx", "--abits", "0", "--out", "{OUT}/q.onnx"], 2,
     ["no quantizable layer", "expected: Conv, ConvTranspose, Gemm or MatMul"]),
    ("quantize NaN weight", ["quantize", "{F}/matmul_nan.onnx", "--abits", "0", "--out", "{OUT}/q.onnx"], 2,
     ["weight holds NaN or Inf", "node 'mm0'", "tensor 'W'", "1 non-finite values"]),
    ("quantize zero channel is exact", ["quantize", "{F}/matmul_zero_channel.onnx", "--abits", "0", "--wbits", "4",
                                        "--out", "{OUT}.onnx"], 0, ["mm0", "wrote"]),
    ("quantize activations without calibration data", QUANT, 2, ["needs calibration data", "--calib"]),
    ("quantize group scales to ONNX", QUANT + ["--abits", "0", "--granularity", "group:8"], 2,
     ["cannot be written as QDQ ONNX", "group scales", "--out FILE.pare"]),
    ("quantize unknown method", QUANT + ["--method", "magic", "--abits", "0"], 2,
     ["unknown quantization method 'magic'", "expected: rtn"]),
    # Method flags come from the registry (issue 15): typed, checked against their method, listed.
    ("quantize method flag not a number", QUANT + ["--abits", "0", "--method", "rex", "--order", "two"], 2,
     ["--order takes an integer", "got:      two"]),
    ("quantize option of another method", QUANT + ["--abits", "0", "--method", "powerquant", "--sparsity", "0.5"], 2,
     ["'sparsity' is an option of --method rex"]),
    ("quantize bare --json", QUANT + ["--abits", "0", "--json"], 2, ["--json needs a file name"]),
    ("quantize without a model", ["quantize", "--wbits", "4"], 2, ["no model given"]),
    ("quantize list methods", ["quantize", "--list-methods"], 0, ["rex", "--order", "data: none", "powerquant"]),
    ("quantize list methods as JSON", ["quantize", "--list-methods", "--json"], 0, ['"methods"', '"data": "calibration"']),
    # Data-free methods (issue 7): their own options are checked before any work, and they take no data.
    ("quantize rex order 0", QUANT + ["--abits", "0", "--method", "rex", "--order", "0"], 2,
     ["expansion order K must be at least 1", "got:      0"]),
    ("quantize rex sparsity 0", QUANT + ["--abits", "0", "--method", "rex", "--sparsity", "0"], 2,
     ["expansion sparsity must be in (0, 1]", "fraction of output rows"]),
    ("quantize rex sparsity above 1", QUANT + ["--abits", "0", "--method", "rex", "--sparsity", "1.5"], 2,
     ["expansion sparsity must be in (0, 1]", "got:      1.5"]),
    ("quantize rex ensemble larger than order", QUANT + ["--abits", "0", "--method", "rex", "--order", "2",
                                                          "--ensemble", "3"], 2,
     ["needs at least M expansion orders", "--order 3"]),
    ("quantize order without rex", QUANT + ["--abits", "0", "--order", "2"], 2,
     ["'order' is an option of --method rex"]),
    ("quantize ternary at 4 bits", QUANT + ["--abits", "0", "--method", "tquant", "--wbits", "4"], 2,
     ["quantizes weights to ternary values", "--wbits 2"]),
    ("quantize ternary with 1-bit activations", QUANT + ["--method", "mquant", "--wbits", "2", "--abits", "1"], 2,
     ["ternary weights need activations of at least 2 bits", "--abits 8"]),
    ("quantize data-free method given data", QUANT + ["--method", "rex", "--calib", "npy:{F}/train/good"], 2,
     ["method rex is data-free", "takes no calibration data", "leave --calib out"]),
    ("quantize rex to onnx", QUANT + ["--abits", "0", "--method", "rex", "--order", "2"], 2,
     ["cannot be written as QDQ ONNX", "residual expansion terms"]),
    ("quantize rex to package", ["quantize", "{F}/train/zoo8.onnx", "--abits", "0", "--method", "rex", "--order", "3",
                                 "--sparsity", "0.25", "--out", "{OUT}.pare"], 0, ["wrote", "bits/weight"]),
    ("quantize llama with dfq", LQ + ["--method", "dfq", "--out", "{OUT}/q.pare"], 2,
     ["dfq does not apply to Llama models", "BatchNorm"]),
    ("quantize llama with a PIPE ensemble", LQ + ["--method", "rex", "--order", "2", "--ensemble", "2", "--out",
                                                   "{OUT}/q.pare"], 2,
     ["PIPE ensemble does not apply to Llama models", "RMSNorm"]),
    ("quantize unknown output format", ["quantize", "{F}/train/zoo8.onnx", "--abits", "0", "--out", "{OUT}/q.tflite"],
     2, ["q.tflite", "unknown output format"]),
    ("quantize out overwrites model", ["quantize", "{F}/train/zoo8.onnx", "--abits", "0", "--out",
                                       "{F}/train/zoo8.onnx"], 2, ["refusing to overwrite"]),
    ("quantize calibration data of another shape", QUANT + ["--calib", "npy:{F}/train/wrong_size"], 2,
     ["wrong_size", "do not fit the model input"]),
    ("quantize recipe not JSON", QUANT + ["--recipe", "{F}/train/recipe_bad.json"], 2,
     ["recipe_bad.json", "recipe is not valid JSON"]),
    ("quantize recipe unknown key", QUANT + ["--recipe", "{F}/train/recipe_typo.json"], 2,
     ["recipe_typo.json", "unknown recipe key 'wbit'"]),
    ("eval empty package", ["eval", "{F}/pkg_empty.pare", "--data", "npy:{F}/train/good"], 2,
     ["pkg_empty.pare"]),
    ("eval package magic only", ["eval", "{F}/pkg_magic_only.pare", "--data", "npy:{F}/train/good"], 2,
     ["pkg_magic_only.pare", "not a .pare package"]),
    ("eval package header not JSON", ["eval", "{F}/pkg_bad_json.pare", "--data", "npy:{F}/train/good"], 2,
     ["pkg_bad_json.pare", "malformed package header"]),
    ("eval package blob past the end", ["eval", "{F}/pkg_blob_past_end.pare", "--data", "npy:{F}/train/good"], 2,
     ["pkg_blob_past_end.pare", "runs past the end of the file"]),
    ("eval package with a float blob offset", ["eval", "{F}/pkg_float_offset.pare", "--data", "npy:{F}/train/good"],
     2, ["pkg_float_offset.pare", "offset of blob 'graph' is not an integer"]),
    ("eval package whose format is an array", ["eval", "{F}/pkg_format_array.pare", "--data", "npy:{F}/train/good"],
     2, ["pkg_format_array.pare", "package header is not a pare header"]),
    ("info package version 9", ["info", "{F}/pkg_version9.pare"], 2,
     ["pkg_version9.pare", "unsupported package version 9", "upgrade pare"]),
    ("eval truncated package", ["eval", "{F}/train/truncated.pare", "--data", "npy:{F}/train/good"], 2,
     ["truncated.pare", "truncated"]),
    ("eval package with a flipped byte", ["eval", "{F}/train/flipped.pare", "--data", "npy:{F}/train/good"], 2,
     ["flipped.pare", "fails its checksum"]),
    ("eval package with a float weight_input", ["eval", "{F}/train/float_weight_input.pare", "--data",
                                                  "npy:{F}/train/good"], 2,
     ["float_weight_input.pare", "weight_input of", "is not an integer"]),
    ("eval good package", ["eval", "{F}/train/good.pare", "--data", "npy:{F}/train/good"], 0, ["top-1"]),
]

# Issue 16: every refusal before any work, pare-style parse errors, messages that point the way, honest sizes.
ZOO8 = "{F}/train/zoo8.onnx"
CALIB_EVAL = ["--calib", "npy:{F}/train/good", "--eval", "npy:{F}/train/good"]
CASES += [
    ("quantize creates missing output folders", ["quantize", ZOO8] + CALIB_EVAL + ["--out", "{OUT}/a/b/q.onnx",
                                                                                   "--json", "{OUT}/c/q.json"], 0,
     ["wrote", "bytes on disk"]),
    ("quantize output folder under a file", ["quantize", ZOO8] + CALIB_EVAL + ["--out", "{F}/good_x.npy/q.onnx"], 2,
     ["good_x.npy", "cannot be created", "is a file"]),
    ("quantize json folder under a file", ["quantize", ZOO8] + CALIB_EVAL + ["--out", "{OUT}/q.onnx", "--json",
                                                                             "{F}/good_x.npy/q.json"], 2,
     ["q.json", "cannot be created"]),
    ("quantize json is a folder", ["quantize", ZOO8, "--abits", "0", "--out", "{OUT}/q.onnx", "--json", "{F}/train"],
     2, ["--json names a folder"]),
    ("quantize group scales to ONNX before calibration", ["quantize", ZOO8] + CALIB_EVAL +
     ["--granularity", "group:8", "--out", "{OUT}/q.onnx"], 2,
     ["cannot be written as QDQ ONNX", "group scales", "--out FILE.pare"]),
    ("quantize rex to ONNX hints a package, not granularity", ["quantize", ZOO8, "--abits", "0", "--method", "rex",
                                                               "--order", "2", "--out", "{OUT}/q.onnx"], 2,
     ["residual expansion terms", "--out FILE.pare", "!granularity channel"]),
    ("quantize powerquant to ONNX", ["quantize", ZOO8, "--abits", "0", "--method", "powerquant", "--out",
                                     "{OUT}/q.onnx"], 2, ["power-grid values", "--out FILE.pare"]),
    ("quantize a package", ["quantize", "{F}/train/good.pare", "--abits", "0", "--out", "{OUT}/q.pare"], 2,
     ["good.pare", "got a .pare package", "quantize the float ONNX model"]),
    ("quantize W4 ONNX tells the size on disk", ["quantize", ZOO8, "--abits", "0", "--wbits", "4", "--out",
                                                 "{OUT}/q.onnx"], 0,
     ["packed ", "bytes on disk", "QDQ ONNX stores codes below 8 bits as int8"]),
    ("eval npy: given a file", ["eval", ZOO8, "--data", "npy:{F}/good_x.npy"], 2,
     ["good_x.npy", "npy: takes a folder", "inputs.npy"]),
    ("eval fmnist on a model of another input", ["eval", "{F}/good.onnx", "--data", "fmnist:test:10"], 2,
     ["do not fit the model input", "folder:DIR", "npy:DIR"]),
    ("eval json under a file", ["eval", ZOO8, "--data", "npy:{F}/train/good", "--json", "{F}/good_x.npy/e.json"], 2,
     ["e.json", "cannot be created"]),
    ("train json under a file", TRAIN + ["--data", "npy:{F}/train/good", "--json", "{F}/good_x.npy/t.json"], 2,
     ["t.json", "cannot be created"]),
    ("unknown flag", ["quantize", ZOO8, "--bits", "4"], 2,
     ["pare quantize has no flag --bits", "did you mean --wbits?", "pare quantize --help"]),
    ("unknown flag with a value", ["eval", ZOO8, "--dataset=fmnist:test"], 2,
     ["pare eval has no flag --dataset", "did you mean --data?"]),
    ("unknown command", ["quantise", ZOO8], 2, ["pare has no command 'quantise'", "did you mean pare quantize?"]),
    ("unknown nested command", ["text", "brwn", "--split", "train", "--out", "{OUT}/b.txt"], 2,
     ["pare text has no command 'brwn'", "did you mean pare text brown?"]),
    ("no command", [], 2, ["no command given", "quantize"]),
    ("flag value not a number", ["quantize", ZOO8, "--wbits", "four", "--out", "{OUT}/q.onnx"], 2,
     ["pare quantize: ", "--wbits", "pare quantize --help"]),
    ("unexpected argument", ["info", ZOO8, "extra.onnx"], 2, ["unexpected argument", "extra.onnx"]),
    # Issue 17: a method that learns needs its calibration data, asked for before any work.
    ("gptq without calibration data", ["quantize", ZOO8, "--method", "gptq", "--abits", "0", "--out",
                                       "{OUT}/q.pare"], 2, ["method gptq learns from calibration data", "--calib"]),
    ("gptq on a Llama without calibration text", LQ + ["--method", "gptq", "--out", "{OUT}/q.pare"], 2,
     ["method gptq learns from calibration text", "--calib brown:train"]),
    ("gptq with a bad dampening", ["quantize", ZOO8, "--method", "gptq", "--abits", "0", "--damp", "-1",
                                   "--calib", "npy:{F}/train/good", "--out", "{OUT}/q.pare"], 2, ["damp"]),
    ("gptq act-order to a package", ["quantize", ZOO8, "--method", "gptq", "--abits", "0", "--wbits", "4",
                                     "--act-order", "true", "--granularity", "group:8", "--calib",
                                     "npy:{F}/train/good", "--out", "{OUT}/q.pare"], 0, ["wrote", "bits/weight"]),
    ("qdrop without calibration data", ["quantize", ZOO8, "--method", "qdrop", "--wbits", "4", "--out",
                                        "{OUT}/q.pare"], 2, ["calibration data", "--calib"]),
    ("brecq on a Llama (Fisher: graphs only)", LQ + ["--method", "brecq", "--calib", "brown:train:512", "--out",
                                                     "{OUT}/q.pare"], 2, ["--loss fisher", "--loss mse"]),
    ("ternary starting scales at 4 bits", ["quantize", ZOO8, "--method", "reconstruct", "--wbits", "4", "--init",
                                           "mquant", "--out", "{OUT}/q.pare"], 2, ["--wbits 2", "--init rtn"]),
    ("reconstruct with an unknown variable", ["quantize", ZOO8, "--method", "reconstruct", "--variable", "sign",
                                              "--out", "{OUT}/q.pare"], 2, ["variable", "adaround"]),
    ("reconstruct end to end", ["quantize", ZOO8, "--method", "reconstruct", "--wbits", "4", "--abits", "8",
                                "--iters", "3", "--calib", "npy:{F}/train/good", "--out", "{OUT}/q.pare"], 0,
     ["wrote", "bits/weight"]),
    # imatrix scales and AWQ learn from calibration data too.
    ("imatrix scales without calibration data", ["quantize", ZOO8, "--weight-scale", "imatrix", "--abits", "0",
                                                 "--out", "{OUT}/q.pare"], 2, ["weight_scale imatrix", "--calib"]),
    ("imatrix scales on a Llama without calibration text", LQ + ["--weight-scale", "imatrix", "--out",
                                                                  "{OUT}/q.pare"], 2,
     ["--weight-scale imatrix", "--calib brown:train"]),
    ("imatrix scales with a data-free method", ["quantize", ZOO8, "--method", "rex", "--weight-scale", "imatrix",
                                                "--out", "{OUT}/q.pare"], 2, ["weight_scale imatrix", "data-free"]),
    ("awq without calibration data", ["quantize", ZOO8, "--method", "awq", "--abits", "0", "--out",
                                      "{OUT}/q.pare"], 2, ["method awq learns from calibration data", "--calib"]),
    ("awq with activation bits", ["quantize", ZOO8, "--method", "awq", "--calib", "npy:{F}/train/good", "--out",
                                  "{OUT}/q.pare"], 2, ["awq is weights-only", "--abits 0"]),
    ("awq on a Llama without calibration text", LQ + ["--method", "awq", "--out", "{OUT}/q.pare"], 2,
     ["method awq learns from calibration text", "--calib brown:train"]),
    ("awq with an unknown base", ["quantize", ZOO8, "--method", "awq", "--abits", "0", "--base", "adaround",
                                  "--calib", "npy:{F}/train/good", "--out", "{OUT}/q.pare"], 2, ["base"]),
    ("awq to a package", ["quantize", ZOO8, "--method", "awq", "--abits", "0", "--wbits", "4", "--calib",
                          "npy:{F}/train/good", "--out", "{OUT}/q.pare"], 0, ["wrote", "bits/weight"]),
]


# Issue 16, LLM side: the LLM and info/export/zoo/text/ppl commands check every output path and option before any
# work, name their formats the same way, and run from any working folder (every case runs outside the repository).
PPL_TOKENS = ["ppl", "{F}/llama_good", "--tokens", "{F}/llama_tokens.npy"]
CASES += [
    ("text brown outside the repository", ["text", "brown", "--split", "heldout", "--out", "{OUT}/new/heldout.txt"],
     0, ["Brown heldout split, 30 files, 60752 words"]),
    ("text brown --out names a folder", ["text", "brown", "--split", "heldout", "--out", "{F}"], 2,
     ["--out names a folder"]),
    ("text train-tokenizer --out over its text", ["text", "train-tokenizer", "--data", "text:{F}/llama_text.txt",
                                                  "--vocab-size", "300", "--out", "{F}/llama_text.txt"], 2,
     ["llama_text.txt", "refusing to overwrite"]),
    ("text train-tokenizer unknown normalization", ["text", "train-tokenizer", "--normalization", "nfd", "--out",
                                                    "{OUT}/t.model"], 2,
     ["unknown SentencePiece normalization 'nfd'", "expected: identity, nmt_nfkc"]),
    ("text stats --json names a folder", ["text", "stats", "--tokenizer", "{F}/llama_text.txt", "--data",
                                          "text:{F}/llama_text.txt", "--json", "{F}"], 2, ["--json names a folder"]),
    ("info llama package", ["info", "{F}/llm/llama_q.pare"], 0,
     ["llama_q.pare (.pare version 1", "Llama: 1 layers, hidden 8", "vocab 16", "tokenizer  none stored",
      "model.layers.0.mlp.down_proj.weight", "int4 symmetric", "bits/weight", "model.embed_tokens.weight",
      "float32"]),
    ("info --json llama package", ["info", "{F}/llm/llama_q.pare", "--json"], 0,
     ['"model": "llama"', '"vocab_size": 16', '"grid": "int4 symmetric"', '"shape": [\n', '"tokenizer": null',
      '"dtype": "float32"', '"file_bytes": ']),
    ("info --json - llama package", ["info", "--json", "-", "{F}/llm/llama_q.pare"], 0, ['"model": "llama"']),
    ("info damaged llama package", ["info", "{F}/llm/flipped.pare"], 2, ["flipped.pare", "fails its checksum"]),
    ("info --json onnx shapes are arrays", ["info", "--json", "{F}/good.onnx"], 0,
     ['"dtype": "float32"', '"shape": [\n        1,\n        3\n      ]']),
    ("info --json names a folder", ["info", "{F}/good.onnx", "--json", "{F}"], 2, ["--json names a folder"]),
    ("info --json over the model", ["info", "{F}/good.onnx", "--json", "{F}/good.onnx"], 2,
     ["refusing to overwrite"]),
    ("export gguf named .onnx", ["export", "{F}/llama_good", "--out", "{OUT}/x.onnx"], 2,
     ["x.onnx", "--out does not end in .gguf", "got:      '.onnx'"]),
    ("export without a tokenizer", ["export", "{F}/llama_good", "--out", "{OUT}/x.gguf"], 2,
     ["llama_good", "no tokenizer.model", "give --tokenizer FILE (the model's SentencePiece tokenizer.model)"]),
    ("export --json names a folder", ["export", "{F}/llama_good", "--out", "{OUT}/x.gguf", "--json", "{F}"], 2,
     ["--json names a folder"]),
    ("export over the model's weights", ["export", "{F}/llama_tok_a.gguf", "--out", "{F}/llama_tok_a.gguf"], 2,
     ["refusing to overwrite"]),
    ("export a gguf", ["export", "{F}/llama_tok_a.gguf", "--type", "f16", "--quiet", "--out", "{OUT}/new/q.gguf",
                       "--json", "{OUT}/new/export.json"], 0, ["wrote", "q.gguf"]),
    ("ppl default ctx is the model's limit", PPL_TOKENS, 0, ["ctx 32, 1 windows"]),
    ("ppl --batch-size", PPL_TOKENS + ["--ctx", "8", "--batch-size", "2"], 0, ["ctx 8, 5 windows"]),
    ("ppl --batch still works", PPL_TOKENS + ["--ctx", "8", "--batch", "2"], 0, ["ctx 8, 5 windows"]),
    ("ppl --json names a folder", PPL_TOKENS + ["--ctx", "8", "--json", "{F}"], 2, ["--json names a folder"]),
    ("ppl --save-ref names a folder", PPL_TOKENS + ["--ctx", "8", "--save-ref", "{F}"], 2,
     ["--save-ref names a folder"]),
    ("zoo llama test", ["zoo", "llama", "--config", "test", "--quiet", "--out", "{OUT}/new/zl"], 0,
     ["random weights", "tokenizer.model of 512 pieces"]),
    ("zoo llama --random is the default", ["zoo", "llama", "--config", "test", "--random", "--no-tokenizer",
                                           "--quiet", "--out", "{OUT}/zl"], 0, ["no tokenizer"]),
    ("zoo llama out is a file", ["zoo", "llama", "--config", "test", "--out", "{F}/good.onnx"], 2,
     ["good.onnx", "--out exists and is not a folder"]),
]


def make_quant_fixtures(pare, work):
    """A real package (4-bit, group scales) and damaged copies of it; recipes with mistakes."""
    d = os.path.join(work, "train")
    subprocess.run([pare, "quantize", os.path.join(d, "zoo8.onnx"), "--abits", "0", "--wbits", "4", "--granularity",
                    "group:8", "--out", os.path.join(d, "good.pare")], check=True, capture_output=True)
    with open(os.path.join(d, "good.pare"), "rb") as f:
        good = f.read()
    with open(os.path.join(d, "truncated.pare"), "wb") as f:
        f.write(good[:len(good) * 2 // 3])
    flipped = bytearray(good)
    flipped[-100] ^= 0x10
    with open(os.path.join(d, "flipped.pare"), "wb") as f:
        f.write(bytes(flipped))
    # A float where the reader wants an int (nlohmann's get<int>() of 1e99 was undefined behaviour): the header is
    # rewritten with a valid checksum and the blobs moved up by a multiple of 64 bytes to make room.
    hlen = struct.unpack("<Q", good[16:24])[0]
    header = json.loads(good[24:24 + hlen])
    shift = (24 + hlen + 1024 + 63) // 64 * 64
    for b in header["blobs"].values():
        b["offset"] += shift
    header["quantized"][0]["weight_input"] = 1e99
    text = json.dumps(header, separators=(",", ":")).encode()
    body = good[:8] + struct.pack("<IIQ", 1, zlib.crc32(text), len(text)) + text
    with open(os.path.join(d, "float_weight_input.pare"), "wb") as f:
        f.write(body + b"\0" * (shift - len(body)) + good)
    with open(os.path.join(d, "recipe_bad.json"), "w") as f:
        f.write('{"wbits": 4,')
    with open(os.path.join(d, "recipe_typo.json"), "w") as f:
        f.write('{"wbit": 4}')


def make_llama_fixtures(pare, work):
    """A quantized Llama package and damaged copies; a work folder left by a run with other settings."""
    d = os.path.join(work, "llm")
    os.makedirs(d)
    subprocess.run([pare, "quantize", os.path.join(work, "llama_good"), "--wbits", "4", "--out",
                    os.path.join(d, "llama_q.pare")], check=True, capture_output=True)
    with open(os.path.join(d, "llama_q.pare"), "rb") as f:
        good = f.read()
    with open(os.path.join(d, "truncated.pare"), "wb") as f:
        f.write(good[:len(good) * 2 // 3])
    flipped = bytearray(good)
    flipped[-100] ^= 0x10  # in the last blob: found by the checksums pare verifies when it opens a package
    with open(os.path.join(d, "flipped.pare"), "wb") as f:
        f.write(bytes(flipped))
    hlen = struct.unpack("<Q", good[16:24])[0]
    header = json.loads(good[24:24 + hlen])
    header["quantized"] = [e for e in header["quantized"] if e["weight"] != "model.layers.0.mlp.down_proj.weight"]
    shift = (24 + hlen + 1024 + 63) // 64 * 64  # the old file follows the new header: offsets move by `shift`
    for b in header["blobs"].values():
        b["offset"] += shift
    text = json.dumps(header, separators=(",", ":")).encode()
    body = good[:8] + struct.pack("<IIQ", 1, zlib.crc32(text), len(text)) + text
    with open(os.path.join(d, "missing_tensor.pare"), "wb") as f:
        f.write(body + b"\0" * (shift - len(body)) + good)
    os.makedirs(os.path.join(d, "stale.pare.partial"))
    with open(os.path.join(d, "stale.pare.partial", "job.json"), "w") as f:
        f.write('{"format": "pare-llama-quantize-partial", "version": 1, "recipe": {"wbits": 4}}\n')


def make_kld_fixtures(pare, work):
    """Stored references (pare ppl --save-ref) of llama_good (token ids, ctx 8, windows) and of llama_tok_a.gguf (a
    text tokenized with its vocabulary), for the --ref cases."""
    d = os.path.join(work, "kld")
    os.makedirs(d)
    subprocess.run([pare, "ppl", os.path.join(work, "llama_good"), "--tokens", os.path.join(work, "llama_tokens.npy"),
                    "--ctx", "8", "--quiet", "--save-ref", os.path.join(d, "ref_ctx8.safetensors")], check=True,
                   capture_output=True)
    subprocess.run([pare, "ppl", os.path.join(work, "llama_tok_a.gguf"), "--text", os.path.join(work, "llama_text.txt"),
                    "--ctx", "8", "--quiet", "--save-ref", os.path.join(d, "ref_tok_a.safetensors")], check=True,
                   capture_output=True)


def make_image_fixtures(work):
    """Class folders for the folder: cases, from the corpus images: one good folder, one per broken image."""
    d = os.path.join(work, "folders")

    def folder(name, images):
        for cls, files in images.items():
            os.makedirs(os.path.join(d, name, cls))
            for f in files:
                shutil.copy(os.path.join(work, f), os.path.join(d, name, cls, f))

    folder("good", {"cat": ["img_good.png"], "dog": ["img_good.jpg"]})
    for name, bad in (("truncated_png", "img_truncated.png"), ("bad_crc_png", "img_bad_crc.png"),
                      ("truncated_jpg", "img_truncated.jpg"), ("not_image", "img_not_image.jpg"),
                      ("empty_png", "img_empty.png")):
        folder(name, {"cat": ["img_good.png"], "dog": [bad, "img_good.jpg"]})
    os.makedirs(os.path.join(d, "empty"))
    folder("empty_class", {"cat": ["img_good.png"], "dog": []})


def write_npy(path, descr, shape, payload):
    """A version-1 .npy file (standard library only)."""
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, "".join(f"{d}, " for d in shape) if len(shape) == 1 else ", ".join(map(str, shape)))
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode("latin1") + payload)


def make_training_fixtures(pare, work):
    """Small models, NPY datasets and checkpoints for the training cases (made fresh, not committed)."""
    import struct
    d = os.path.join(work, "train")
    os.makedirs(d)
    subprocess.run([pare, "zoo", "resnet8", "--width", "0.25", "--out", os.path.join(d, "zoo8.onnx")], check=True,
                   capture_output=True)
    subprocess.run([pare, "zoo", "resnet8", "--width", "0.5", "--out", os.path.join(d, "other.onnx")], check=True,
                   capture_output=True)

    def dataset(name, n, size, labels):
        os.makedirs(os.path.join(d, name))
        write_npy(os.path.join(d, name, "inputs.npy"), "<f4", [n, 1, size, size], bytes(4 * n * size * size))
        write_npy(os.path.join(d, name, "labels.npy"), "<i8", [n], struct.pack(f"<{n}q", *labels))

    dataset("good", 8, 28, [i % 10 for i in range(8)])
    dataset("labels_out_of_range", 8, 28, [0, 1, 2, 12, 3, 4, 5, 6])
    dataset("wrong_size", 8, 32, [i % 10 for i in range(8)])
    # A real checkpoint, of the other model: one step of training.
    tmp = tempfile.mkdtemp(prefix="pare-bad-ckpt-")
    subprocess.run([pare, "train", os.path.join(d, "other.onnx"), "--data", "npy:" + os.path.join(d, "good"),
                    "--epochs", "1", "--batch-size", "4", "--max-steps", "1", "--quiet", "--checkpoint",
                    os.path.join(d, "other.ckpt"), "--out", os.path.join(tmp, "o.onnx")], check=True,
                   capture_output=True)
    shutil.rmtree(tmp, ignore_errors=True)
    with open(os.path.join(d, "damaged.ckpt"), "wb") as f:
        f.write(b"PARECKPT\x01\x00\x00\x00" + b"\xff" * 8 + b"{}")


# Inputs that made a fuzzer fail once (docs/fuzzing.md): each must now be a clean error.
REGRESSION_GLOBS = ["fuzz_*.onnx", "fuzz_*.npy", "fuzz_*.npz", "fuzz_*.pare", "fuzz_*.safetensors",
                    "fuzz_*.gguf"]


def tree_digest(root):
    """{relative path: sha256} of every file under root (folders included as entries)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            out[os.path.relpath(os.path.join(dirpath, d), root) + "/"] = "dir"
        for f in filenames:
            p = os.path.join(dirpath, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def run_case(pare, work, name, argv, want_rc, needles, failures):
    out_dir = os.path.join(tempfile.mkdtemp(prefix="pare-bad-out-"), "out")
    argv = [a.replace("{F}", work).replace("{OUT}", out_dir) for a in argv]
    before = tree_digest(work)
    try:
        # From a folder outside the repository: a command must not depend on where it is run from.
        proc = subprocess.run([pare] + argv, capture_output=True, text=True, errors="replace", timeout=120,
                              cwd=os.path.dirname(out_dir))
    except subprocess.TimeoutExpired:
        failures.append(f"{name}: timed out (hang?)")
        return
    text = proc.stdout + proc.stderr
    problems = []
    if proc.returncode < 0:
        problems.append(f"killed by signal {-proc.returncode} (crash)")
    elif proc.returncode != want_rc:
        problems.append(f"exit code {proc.returncode}, expected {want_rc}")
    if "internal error" in text:
        problems.append("reported as an internal error")
    if want_rc == 2 and not proc.stderr.startswith("pare: error: "):
        problems.append("stderr does not start with 'pare: error: ' (progress or output came first)")
    if want_rc == 2 and proc.stdout.strip():
        problems.append("stdout holds output before the error (the check must come before any work)")
    for needle in needles:
        if needle.startswith("!"):  # must not appear (a misleading hint)
            if needle[1:] in text:
                problems.append(f"output holds {needle[1:]!r}")
        elif needle not in text:
            problems.append(f"output lacks {needle!r}")
    if want_rc != 0 and os.path.exists(out_dir) and os.listdir(out_dir):
        problems.append(f"--output-dir holds partial output: {os.listdir(out_dir)}")
    after = tree_digest(work)
    if after != before:
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        problems.append(f"input files changed or appeared: {changed}")
    shutil.rmtree(os.path.dirname(out_dir), ignore_errors=True)
    if problems:
        failures.append(f"{name}: pare {' '.join(argv)}\n    " + "\n    ".join(problems) +
                        "\n    --- output ---\n    " + text.strip().replace("\n", "\n    "))


def main():
    pare, corpus = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    # Work on a copy so that a bug that writes beside its inputs cannot touch the committed corpus.
    work = os.path.join(tempfile.mkdtemp(prefix="pare-bad-input-"), "files")
    shutil.copytree(corpus, work)
    os.makedirs(os.path.join(work, "inputs"))
    shutil.copy(os.path.join(work, "good_x.npy"), os.path.join(work, "inputs", "y.npy"))

    make_training_fixtures(pare, work)
    make_quant_fixtures(pare, work)
    make_llama_fixtures(pare, work)
    make_image_fixtures(work)
    make_kld_fixtures(pare, work)
    failures = []
    # A control: the valid model and input run and write their one output, so a broken pare cannot pass.
    control_out = os.path.join(tempfile.mkdtemp(prefix="pare-bad-ctl-"), "out")
    proc = subprocess.run([pare, "run", os.path.join(work, "good.onnx"), "-i", "x=" + os.path.join(work, "good_x.npy"),
                           "-o", control_out], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0 or os.listdir(control_out) != ["y.npy"]:
        failures.append("control run of good.onnx failed:\n" + proc.stdout + proc.stderr)

    cases = list(CASES)
    for pattern in REGRESSION_GLOBS:
        for path in sorted(glob.glob(os.path.join(work, pattern))):
            f = os.path.basename(path)
            if f.endswith(".onnx"):
                cases.append(("regression info " + f, ["info", "{F}/" + f], 2, [f]))
                cases.append(("regression run " + f, ["run", "{F}/" + f, "-i", "x={F}/good_x.npy", "-o", "{OUT}"], 2,
                              [f]))
            elif f.endswith(".npz"):
                cases.append(("regression npz " + f, EVAL + ["npz:{F}/" + f], 2, [f]))
            elif f.endswith(".safetensors") or f.endswith(".gguf"):
                cases.append(("regression info " + f, ["info", "{F}/" + f], 2, [f]))
            else:
                cases.append(("regression npy " + f, RUN + ["-i", "x={F}/" + f], 2, [f]))
    # PARE_BAD_INPUT_ONLY=substring runs only the cases whose name holds it (for working on a few).
    only = os.environ.get("PARE_BAD_INPUT_ONLY", "")
    cases = [c for c in cases if only in c[0]]
    for name, argv, want_rc, needles in cases:
        run_case(pare, work, name, argv, want_rc, needles, failures)
    shutil.rmtree(os.path.dirname(work), ignore_errors=True)
    shutil.rmtree(os.path.dirname(control_out), ignore_errors=True)
    print(f"bad_input: {len(cases) + 1 - len(failures)} of {len(cases) + 1} cases pass")
    for f in failures:
        print("FAIL " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
