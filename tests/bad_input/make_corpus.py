#!/usr/bin/python3
# Writes the broken-file corpus of tests/bad_input/files: ONNX models, NPY arrays, safetensors files/folders and
# GGUF files that are each wrong in one way, plus the small valid ones they are variations of. Deterministic (fixed
# seed): rerunning it rewrites the same bytes. Needs onnx, numpy and PIL (python3-pil, pulled in by
# python3-torchvision): run with /usr/bin/python3 (not the pyenv python3). Broken .npz archives and PNG/JPEG images
# are made here too; run_bad_input.py arranges the images into class folders for folder: datasets at test time.
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "files")


def path(name):
    return os.path.join(OUT, name)


def write_bytes(name, data):
    with open(path(name), "wb") as f:
        f.write(data)


def float_init(name, values, dims=None):
    values = np.asarray(values, dtype=np.float32)
    t = TensorProto()
    t.name = name
    t.data_type = TensorProto.FLOAT
    t.dims.extend(values.shape if dims is None else dims)
    t.raw_data = values.tobytes()
    return t


def model(nodes, inits, inputs=None, outputs=None, opset=17, name="bad_input"):
    inputs = inputs or [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])]
    outputs = outputs or [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])]
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="make_corpus.py")
    m.ir_version = 8
    return m


def save(name, m):
    # SerializeToString, not onnx.save: no checker runs, and external-data fields stay as written.
    write_bytes(name, m.SerializeToString())


def add_relu(w_init, w_name="W"):
    """x[1,3] + W -> h, Relu(h) -> y: nodes 'add0', 'relu0'."""
    nodes = [helper.make_node("Add", ["x", w_name], ["h"], name="add0"),
             helper.make_node("Relu", ["h"], ["y"], name="relu0")]
    return model(nodes, [w_init] if w_init is not None else [])


def external_init(name, location, n_floats):
    t = TensorProto()
    t.name = name
    t.data_type = TensorProto.FLOAT
    t.dims.extend([n_floats])
    t.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", str(4 * n_floats))):
        e = t.external_data.add()
        e.key = key
        e.value = value
    return t


def make_onnx_files(rng):
    good = add_relu(float_init("W", [0.5, -1.0, 2.0]))
    save("good.onnx", good)

    # x[1,3] @ W[3,3] -> y: for pare quantize. One with a NaN weight, one whose first output column is all
    # zeros (a zero-range channel, which quantizes exactly to zeros).
    def matmul(w):
        return model([helper.make_node("MatMul", ["x", "W"], ["y"], name="mm0")], [float_init("W", w)])
    save("matmul_nan.onnx", matmul([[0.5, 1.0, 2.0], [float("nan"), 0.25, 1.0], [0.1, 0.2, 0.3]]))
    save("matmul_zero_channel.onnx", matmul([[0.0, 1.0, 2.0], [0.0, 0.25, 1.0], [0.0, 0.2, 0.3]]))

    # Two inputs a, b: for "missing input" runs.
    two = model([helper.make_node("Add", ["a", "b"], ["y"], name="add_ab")], [],
                inputs=[helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, 3]),
                        helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, 3])])
    save("two_inputs.onnx", two)

    # Truncated in the middle of the initializer's raw data (a large one, so the cut is inside a field).
    big = add_relu(float_init("W", rng.standard_normal(3).astype(np.float32)))
    big.graph.initializer.append(float_init("unused_big", rng.standard_normal(256).astype(np.float32)))
    data = big.SerializeToString()
    cut = data[: len(data) * 3 // 5]
    try:
        onnx.ModelProto().ParseFromString(cut)
        sys.exit("make_corpus.py: the truncated model still parses; choose another cut")
    except Exception:
        pass
    write_bytes("truncated.onnx", cut)

    write_bytes("random_bytes.onnx", rng.integers(0, 256, 700, dtype=np.uint8).tobytes())
    write_bytes("empty.onnx", b"")
    write_bytes("text_file.onnx", b"this is not a model, it is a note someone saved with the wrong name\n")

    # 'W' is read by node add0 but is neither an initializer nor an input.
    save("missing_initializer.onnx", add_relu(None))

    save("external_missing.onnx", add_relu(external_init("W", "external_missing.bin", 3)))
    ext = add_relu(external_init("W", "external_truncated.bin", 3))
    ext.graph.node[0].input[1] = "W"
    save("external_truncated.onnx", ext)
    write_bytes("external_truncated.bin", np.float32([1.0, 2.0]).tobytes())  # 8 of the 12 bytes
    save("external_escape.onnx", add_relu(external_init("W", "../../../../etc/passwd", 3)))
    bad_offset = external_init("W", "external_truncated.bin", 2)
    bad_offset.external_data[1].value = "eight"  # offset must be an integer
    save("external_bad_offset.onnx", add_relu(bad_offset, "W"))

    unknown = add_relu(float_init("W", [1, 2, 3]))
    unknown.graph.node[1].op_type = "FrobnicateXYZ"
    save("unknown_op.onnx", unknown)

    # Four unsupported nodes of three op types: all must be reported in one error.
    several = model([helper.make_node("Frobnicate", ["x"], ["h1"], name="frob_a"),
                     helper.make_node("Frobnicate", ["h1"], ["h2"], name="frob_b"),
                     helper.make_node("Quux", ["h2"], ["h3"], name="quux_a", domain="com.example"),
                     helper.make_node("Zorble", ["h3"], ["y"], name="zorble_a")], [])
    several.opset_import.append(helper.make_opsetid("com.example", 1))
    save("several_unsupported.onnx", several)

    # Softmax 'axis' must be an int; here it is a string.
    wrong_kind = model([helper.make_node("Softmax", ["x"], ["y"], name="softmax0", axis="last")], [])
    save("wrong_attribute_kind.onnx", wrong_kind)

    newer = add_relu(float_init("W", [1, 2, 3]))
    newer.opset_import[0].version = 99
    save("opset_too_new.onnx", newer)

    neg = float_init("W", [1, 2, 3], dims=[-1, 3])
    save("negative_dim.onnx", add_relu(neg))

    wrong_size = float_init("W", [1, 2, 3])
    wrong_size.raw_data = np.float32([1, 2]).tobytes()  # 8 bytes for a [3] float tensor (12 bytes)
    save("raw_data_wrong_size.onnx", add_relu(wrong_size))

    cycle = model([helper.make_node("Relu", ["x2"], ["x1"], name="cyc_a"),
                   helper.make_node("Relu", ["x1"], ["x2"], name="cyc_b"),
                   helper.make_node("Add", ["x", "x2"], ["y"], name="cyc_out")], [])
    save("cycle.onnx", cycle)

    # Names that are not valid UTF-8 (protobuf does not check proto2 strings): info --json must still print.
    # The marker is swapped for invalid bytes of the same length, so every length prefix stays right.
    utf8 = model([helper.make_node("Relu", ["x"], ["y"], name="relu0")], [], name="graph_MARK")
    write_bytes("bad_utf8_names.onnx", utf8.SerializeToString().replace(b"MARK", b"\xfe\xff\xfe\xff"))

    dup = model([helper.make_node("Relu", ["x"], ["y"], name="dup_a"),
                 helper.make_node("Sigmoid", ["x"], ["y"], name="dup_b")], [])
    save("duplicate_producer.onnx", dup)


def npy_bytes(arr):
    import io
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def make_npy_files():
    x = np.float32([[1.0, -2.0, 3.0]])
    write_bytes("good_x.npy", npy_bytes(x))
    write_bytes("bad_magic.npy", b"\x93NUMPZ" + npy_bytes(x)[6:])
    write_bytes("unsupported_dtype.npy", npy_bytes(x.astype(np.complex64)))
    write_bytes("big_endian.npy", npy_bytes(x.astype(">f4")))
    write_bytes("truncated_body.npy", npy_bytes(x)[:-5])
    write_bytes("wrong_shape.npy", npy_bytes(np.zeros((2, 5), np.float32)))
    write_bytes("wrong_dtype.npy", npy_bytes(np.int64([[1, 2, 3]])))
    write_bytes("empty.npy", b"")
    # A zero-size dimension next to two huge ones: 0 elements, but a naive size product overflows int64.
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 999999999999, 999999999999), }"
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    write_bytes("zero_dim_overflow.npy", b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode())


def npz_bytes(compressed, **arrays):
    """What numpy.savez(_compressed) writes (one member per array, zip64 extra fields forced, as numpy does), with
    a fixed timestamp instead of the current time so that the bytes do not change from run to run."""
    import io
    import zipfile
    buf = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    with zipfile.ZipFile(buf, "w", compression=method) as z:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(name + ".npy", date_time=(2025, 11, 25, 0, 0, 0))
            info.compress_type = method
            with z.open(info, "w", force_zip64=True) as f:
                f.write(npy_bytes(np.asanyarray(arr)))
    return buf.getvalue()


def make_npz_files():
    """npz: datasets for a model with input [N, 1, 28, 28] and 10 classes (zeros compress to a few hundred bytes)."""
    x = np.zeros((4, 1, 28, 28), np.float32)
    y = np.int64([0, 1, 2, 3])
    good = npz_bytes(True, inputs=x, labels=y)
    write_bytes("good.npz", good)
    write_bytes("npz_truncated.npz", good[: len(good) // 2])
    write_bytes("npz_empty.npz", b"")
    write_bytes("npz_not_zip.npz", npy_bytes(np.float32([1, 2, 3])))
    write_bytes("npz_no_inputs.npz", npz_bytes(True, images=x, labels=y))
    write_bytes("npz_labels_mismatch.npz", npz_bytes(True, inputs=x, labels=y[:3]))
    write_bytes("npz_float_labels.npz", npz_bytes(True, inputs=x, labels=y.astype(np.float32)))
    write_bytes("npz_bad_member.npz", npz_bytes(True, inputs=x.astype(np.complex64), labels=y))
    # A flipped byte inside the deflate stream of inputs.npy (after its 30-byte local header and 10-byte name).
    damaged = bytearray(good)
    damaged[60] ^= 0xFF
    write_bytes("npz_corrupt_deflate.npz", bytes(damaged))


def make_image_files():
    """Images for folder: datasets: good ones and broken ones (run_bad_input.py puts each into a class folder)."""
    import io
    from PIL import Image
    yy, xx = np.mgrid[0:32, 0:32]
    rgb = np.stack([xx * 8, yy * 8, np.full_like(xx, 100)], axis=2).astype(np.uint8)

    def encode(fmt, **kw):
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format=fmt, **kw)
        return buf.getvalue()

    png, jpg = encode("PNG"), encode("JPEG", quality=90)
    write_bytes("img_good.png", png)
    write_bytes("img_good.jpg", jpg)
    write_bytes("img_truncated.png", png[: len(png) // 2])
    bad_crc = bytearray(png)
    bad_crc[png.index(b"IDAT") + 8] ^= 0xFF  # first bytes of the compressed image data
    write_bytes("img_bad_crc.png", bytes(bad_crc))
    write_bytes("img_truncated.jpg", jpg[: len(jpg) // 2])
    write_bytes("img_not_image.jpg", b"GIF89a but not really\n")
    write_bytes("img_empty.png", b"")


def make_package_files():
    """Broken .pare packages that need no valid model: run_bad_input.py damages a real one at test time."""
    import json
    import struct
    import zlib
    write_bytes("pkg_empty.pare", b"")
    write_bytes("pkg_magic_only.pare", b"PAREPKG\0")
    header = b'{"format": "pare"'  # cut short: not JSON
    write_bytes("pkg_bad_json.pare", b"PAREPKG\0" + struct.pack("<IIQ", 1, zlib.crc32(header), len(header)) + header)
    header = json.dumps({"format": "pare", "version": 1, "graph": "graph", "quantized": [],
                         "blobs": {"graph": {"offset": 64, "bytes": 1 << 40, "crc32": 0}}}).encode()
    body = b"PAREPKG\0" + struct.pack("<IIQ", 1, zlib.crc32(header), len(header)) + header
    write_bytes("pkg_blob_past_end.pare", body + b"\0" * (-len(body) % 64) + b"\0" * 64)
    # A float where the reader wants an integer (nlohmann's get<uint64_t>() of 1e99 was undefined behaviour).
    header = json.dumps({"format": "pare", "version": 1, "graph": "graph", "quantized": [],
                         "blobs": {"graph": {"offset": 1e99, "bytes": 64, "crc32": 0}}}).encode()
    body = b"PAREPKG\0" + struct.pack("<IIQ", 1, zlib.crc32(header), len(header)) + header
    write_bytes("pkg_float_offset.pare", body + b"\0" * (-len(body) % 64) + b"\0" * 64)
    # "format" of the wrong JSON type (found by pare_package_fuzz: json::value() threw its own type_error).
    header = json.dumps({"format": ["pare"], "version": 1, "blobs": {}}).encode()
    write_bytes("pkg_format_array.pare", b"PAREPKG\0" + struct.pack("<IIQ", 1, zlib.crc32(header), len(header)) + header)
    header = b"{}"
    write_bytes("pkg_version9.pare", b"PAREPKG\0" + struct.pack("<IIQ", 9, zlib.crc32(header), 2) + header)


def safetensors_file(tensors, metadata=None):
    """A .safetensors file per the spec (github.com/huggingface/safetensors, README "Format"), written with struct and
    json because Debian's python3 has no safetensors package: u64 little-endian header length, the JSON header padded
    with spaces to a multiple of 8 (as the reference writer does), then the tensors' bytes in the order given.
    tensors: [(name, dtype, shape, raw bytes)]."""
    import json
    import struct
    header, buffer = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [len(buffer), len(buffer) + len(raw)]}
        buffer += raw
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + buffer


def safetensors_raw(header_text, buffer=b""):
    """A file with the header text exactly as given (for headers json.dumps cannot write: duplicate keys, bad JSON)."""
    import struct
    return struct.pack("<Q", len(header_text)) + header_text + buffer


def bf16_bytes(values):
    """bfloat16 is the top half of float32 (values chosen to be exact in bfloat16)."""
    return (np.float32(values).view(np.uint32) >> 16).astype("<u2").tobytes()


def make_safetensors_files():
    """Safetensors files and model folders: a good one of each, and each broken in one way. run_bad_input.py runs
    `pare info` on them; safetensors_test.cpp reads st_good.safetensors and checks its values (a second writer)."""
    import json
    import shutil
    good = safetensors_file([
        ("embed.weight", "F32", [4, 3], (np.arange(12, dtype=np.float32) * 0.5 - 1).tobytes()),
        ("norm.weight", "F16", [3], np.float16([1.0, -0.5, 2.0]).tobytes()),
        ("proj.weight", "BF16", [2, 2], bf16_bytes([1.5, -2.0, 0.15625, 3.0])),
        ("position_ids", "I64", [2], np.int64([7, -1]).astype("<i8").tobytes()),  # at buffer offset 62: misaligned
        ("mask", "BOOL", [3], bytes([1, 0, 1])),
    ], {"format": "pt"})
    write_bytes("st_good.safetensors", good)
    write_bytes("st_empty.safetensors", b"")
    write_bytes("st_truncated_header.safetensors", good[:20])
    write_bytes("st_truncated_buffer.safetensors", good[:-10])  # 'mask' [78, 81] now ends past the buffer
    write_bytes("st_header_too_large.safetensors", (1 << 40).to_bytes(8, "little") + b"{}")
    write_bytes("st_not_json.safetensors", safetensors_raw(b'{"embed.weight": {"dtype": "F32",'))
    write_bytes("st_not_object.safetensors", safetensors_raw(b"[1, 2, 3]"))

    def one(entry, buffer_bytes):
        return safetensors_raw(('{"w": %s}' % json.dumps(entry)).encode(), bytes(buffer_bytes))
    write_bytes("st_unknown_dtype.safetensors", one({"dtype": "Q4_K", "shape": [2], "data_offsets": [0, 8]}, 8))
    write_bytes("st_negative_dim.safetensors",
                safetensors_raw(b'{"w": {"dtype": "F32", "shape": [-1,3], "data_offsets": [0, 12]}}', bytes(12)))
    write_bytes("st_numel_overflow.safetensors",
                one({"dtype": "F32", "shape": [0, 1 << 40, 1 << 40], "data_offsets": [0, 0]}, 0))
    write_bytes("st_size_mismatch.safetensors", one({"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 20]}, 20))
    write_bytes("st_offsets_past_end.safetensors",
                one({"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, 12))
    a = '"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]}'
    write_bytes("st_overlap.safetensors", safetensors_raw(
        ('{%s, "b": {"dtype": "F32", "shape": [3], "data_offsets": [8, 20]}}' % a).encode(), bytes(20)))
    write_bytes("st_hole.safetensors", safetensors_raw(
        ('{%s, "b": {"dtype": "F32", "shape": [3], "data_offsets": [16, 28]}}' % a).encode(), bytes(28)))
    write_bytes("st_trailing.safetensors", safetensors_raw(("{%s}" % a).encode(), bytes(16)))
    write_bytes("st_duplicate_name.safetensors", safetensors_raw(
        b'{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, '
        b'"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}', bytes(8)))
    write_bytes("st_bad_metadata.safetensors", safetensors_file(
        [("w", "F32", [1], np.float32([1]).tobytes())], {"format": 1}))

    # Folders: a Hugging Face model split in two shards listed by model.safetensors.index.json.
    s1, s2 = "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"
    embed = ("model.embed_tokens.weight", "F32", [2, 2], np.float32([1, 2, 3, 4]).tobytes())
    norm = ("model.norm.weight", "F16", [2], np.float16([1, 1]).tobytes())
    head = ("lm_head.weight", "BF16", [2, 2], bf16_bytes([0.5, -0.5, 1.0, 2.0]))
    good_map = {embed[0]: s1, norm[0]: s1, head[0]: s2}

    def folder(name, files):
        shutil.rmtree(path(name), ignore_errors=True)
        os.makedirs(path(name))
        for f, data in files.items():
            with open(os.path.join(path(name), f), "wb") as fh:
                fh.write(data if isinstance(data, bytes) else json.dumps(data, indent=2).encode())

    def index(weight_map):
        return {"metadata": {"total_size": 28}, "weight_map": weight_map}
    shard1, shard2 = safetensors_file([embed, norm], {"format": "pt"}), safetensors_file([head], {"format": "pt"})
    idx = "model.safetensors.index.json"
    folder("st_sharded", {s1: shard1, s2: shard2, idx: index(good_map)})
    folder("st_missing_shard", {s1: shard1, idx: index(good_map)})
    folder("st_index_not_json", {s1: shard1, s2: shard2, idx: b'{"weight_map": {'})
    folder("st_index_no_weight_map", {s1: shard1, s2: shard2, idx: {"metadata": {"total_size": 28}}})
    folder("st_index_wrong_shard", {s1: shard1, s2: shard2, idx: index({**good_map, norm[0]: s2})})
    folder("st_duplicate_across_shards", {s1: shard1, s2: safetensors_file([head, norm]), idx: index(good_map)})
    folder("st_shard_escape", {s1: shard1, idx: index({embed[0]: "../st_good.safetensors"})})
    folder("st_shards_no_index", {s1: shard1, s2: shard2})


def gguf_string(s):
    import struct
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


# GGUF metadata value types (docs/gguf.md in ggml-org/ggml, gguf_metadata_value_type).
GGUF_U8, GGUF_U32, GGUF_I32, GGUF_F32, GGUF_BOOL, GGUF_STR, GGUF_ARR, GGUF_U64 = 0, 4, 5, 6, 7, 8, 9, 10


def gguf_kv(key, vtype, value):
    """One metadata entry: key, u32 type, value (arrays: (element type, [items]))."""
    import struct
    fmt = {0: "<B", 4: "<I", 5: "<i", 6: "<f", 7: "<B", 10: "<Q"}

    def body(t, v):
        if t == GGUF_STR:
            return gguf_string(v)
        if t == GGUF_ARR:
            et, items = v
            return struct.pack("<IQ", et, len(items)) + b"".join(body(et, i) for i in items)
        return struct.pack(fmt[t], v)
    return gguf_string(key) + struct.pack("<I", vtype) + body(vtype, value)


def gguf_tensor_info(name, ne, ggml_type, offset):
    import struct
    return gguf_string(name) + struct.pack("<I", len(ne)) + struct.pack(f"<{len(ne)}Q", *ne) + \
        struct.pack("<IQ", ggml_type, offset)


def gguf_file(kvs, infos, data, version=3, n_tensors=None, n_kv=None, alignment=32):
    """A GGUF file per docs/gguf.md (ggml-org/ggml), written with struct because Debian's python3 has no gguf
    package: magic, u32 version, u64 tensor count, u64 metadata count, the entries, the tensor infos, zero padding
    to the alignment, then the tensor data. kvs and infos are encoded entries; counts default to their lengths."""
    import struct
    head = b"GGUF" + struct.pack("<IQQ", version, len(infos) if n_tensors is None else n_tensors,
                                 len(kvs) if n_kv is None else n_kv) + b"".join(kvs) + b"".join(infos)
    return head + b"\0" * (-len(head) % alignment) + data


def make_gguf_files():
    """GGUF files: a small valid one (metadata of several types, F32/F16/Q8_0/Q4_0 tensors) and files each broken
    in one way. run_bad_input.py runs `pare info` on them; gguf_test.cpp builds its own cases in C++."""
    F32, F16, Q4_0, Q8_0 = 0, 1, 2, 8
    tokens = ["<unk>", "<s>", "</s>"] + [f"tok{i}" for i in range(17)]
    kvs = [gguf_kv("general.architecture", GGUF_STR, "llama"),
           gguf_kv("general.name", GGUF_STR, "tiny"),
           gguf_kv("llama.block_count", GGUF_U32, 1),
           gguf_kv("llama.context_length", GGUF_U64, 64),
           gguf_kv("llama.attention.layer_norm_rms_epsilon", GGUF_F32, 1e-5),
           gguf_kv("tokenizer.ggml.add_bos_token", GGUF_BOOL, 1),
           gguf_kv("tokenizer.ggml.tokens", GGUF_ARR, (GGUF_STR, tokens)),
           gguf_kv("tokenizer.ggml.scores", GGUF_ARR, (GGUF_F32, [-float(i) for i in range(20)])),
           gguf_kv("tokenizer.ggml.token_type", GGUF_ARR, (GGUF_I32, [2, 3, 3] + [1] * 17)),
           gguf_kv("general.quantization_version", GGUF_U32, 2)]
    # Q8_0 block: fp16 d + 32 int8; Q4_0 block: fp16 d + 16 bytes of nibbles (ggml-common.h).
    q8 = b"".join(np.float16(0.01 * (i + 1)).tobytes() + np.arange(-16, 16, dtype=np.int8).tobytes() for i in range(4))
    q4 = b"".join(np.float16(0.1).tobytes() + bytes(range(0x70, 0x80)) for _ in range(2))
    norm = np.ones(32, np.float32).tobytes()
    ffn = np.float16(np.linspace(-1, 1, 32)).tobytes()
    infos = [gguf_tensor_info("token_embd.weight", [32, 4], Q8_0, 0),     # 136 bytes, padded to 160
             gguf_tensor_info("blk.0.attn_q.weight", [32, 2], Q4_0, 160),  # 36 bytes, padded to 64
             gguf_tensor_info("output_norm.weight", [32], F32, 224),       # 128 bytes
             gguf_tensor_info("blk.0.ffn_norm.weight", [32], F16, 352)]    # 64 bytes
    def pad(b):
        return b + b"\0" * (-len(b) % 32)
    data = pad(q8) + pad(q4) + norm + ffn
    good = gguf_file(kvs, infos, data)
    write_bytes("gguf_good.gguf", good)
    write_bytes("gguf_empty.gguf", b"")
    write_bytes("gguf_bad_magic.gguf", b"GGML" + good[4:])
    write_bytes("gguf_version1.gguf", gguf_file(kvs, infos, data, version=1))
    write_bytes("gguf_big_endian.gguf", gguf_file(kvs, infos, data, version=0x03000000))
    # Cut inside the token strings: the array still claims 20 items.
    cut = good.index(b"tok9")
    write_bytes("gguf_truncated.gguf", good[:cut])
    write_bytes("gguf_tensor_count_absurd.gguf", gguf_file(kvs, infos, data, n_tensors=1 << 40))
    write_bytes("gguf_kv_count_absurd.gguf", gguf_file(kvs, infos, data, n_kv=1 << 40))
    import struct
    write_bytes("gguf_string_past_end.gguf", gguf_file(
        [gguf_string("general.name") + struct.pack("<IQ", GGUF_STR, 1 << 40) + b"tiny"], [], b""))
    absurd = struct.pack("<IIQ", GGUF_ARR, GGUF_STR, 1 << 50)  # an array of 2^50 strings in 16 bytes
    write_bytes("gguf_array_absurd.gguf",
                gguf_file([gguf_string("tokenizer.ggml.tokens") + absurd + b"\0" * 16], [], b""))
    write_bytes("gguf_unknown_value_type.gguf", gguf_file(
        [gguf_string("general.weird") + struct.pack("<II", 13, 0)], [], b""))
    write_bytes("gguf_bad_bool.gguf", gguf_file([gguf_string("general.flag") + struct.pack("<IB", GGUF_BOOL, 7)],
                                                [], b""))
    write_bytes("gguf_duplicate_key.gguf", gguf_file(kvs + [gguf_kv("general.name", GGUF_STR, "again")], infos, data))
    write_bytes("gguf_bad_alignment.gguf", gguf_file([gguf_kv("general.alignment", GGUF_U32, 48)], [], b""))

    def one_tensor(name, ne, ggml_type, offset, n_data):
        return gguf_file(kvs[:1], [gguf_tensor_info(name, ne, ggml_type, offset)], b"\0" * n_data)
    write_bytes("gguf_n_dims_0.gguf", one_tensor("blk.0.attn_q.weight", [], F32, 0, 32))
    write_bytes("gguf_n_dims_5.gguf", one_tensor("blk.0.attn_q.weight", [1, 1, 1, 1, 2], F32, 0, 32))
    write_bytes("gguf_dims_overflow.gguf", one_tensor("token_embd.weight", [1 << 40, 1 << 40], F32, 0, 32))
    write_bytes("gguf_unknown_type.gguf", one_tensor("output.weight", [32], 77, 0, 64))
    write_bytes("gguf_row_not_block.gguf", one_tensor("blk.0.attn_k.weight", [33, 2], Q4_0, 0, 64))
    write_bytes("gguf_data_past_end.gguf", one_tensor("token_embd.weight", [1024], F32, 0, 64))
    write_bytes("gguf_misaligned.gguf", one_tensor("output_norm.weight", [4], F32, 4, 64))
    write_bytes("gguf_overlap.gguf", gguf_file(kvs[:1], [gguf_tensor_info("output_norm.weight", [32], F32, 0),
                                                         gguf_tensor_info("blk.0.ffn_norm.weight", [32], F32, 64)],
                                               b"\0" * 192))
    write_bytes("gguf_duplicate_tensor.gguf", gguf_file(kvs[:1], [gguf_tensor_info("output_norm.weight", [8], F32, 0),
                                                                  gguf_tensor_info("output_norm.weight", [8], F32, 32)],
                                                        b"\0" * 64))


def make_llama_files():
    """Tiny Llama folders (vocab 16, hidden 8, 2 heads, 1 layer, fp32) for `pare ppl`: a good one, and each with
    a config that is missing a field, contradicts the weights or asks for what pare does not implement, or with a
    weight missing; plus token id files in and out of the vocabulary."""
    import json
    import shutil
    cfg = {"architectures": ["LlamaForCausalLM"], "vocab_size": 16, "hidden_size": 8, "intermediate_size": 16,
           "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 2,
           "max_position_embeddings": 32, "rms_norm_eps": 1e-5, "hidden_act": "silu"}
    shapes = [("model.embed_tokens.weight", [16, 8]), ("model.layers.0.input_layernorm.weight", [8]),
              ("model.layers.0.self_attn.q_proj.weight", [8, 8]), ("model.layers.0.self_attn.k_proj.weight", [8, 8]),
              ("model.layers.0.self_attn.v_proj.weight", [8, 8]), ("model.layers.0.self_attn.o_proj.weight", [8, 8]),
              ("model.layers.0.post_attention_layernorm.weight", [8]),
              ("model.layers.0.mlp.gate_proj.weight", [16, 8]), ("model.layers.0.mlp.up_proj.weight", [16, 8]),
              ("model.layers.0.mlp.down_proj.weight", [8, 16]), ("model.norm.weight", [8]),
              ("lm_head.weight", [16, 8])]
    rng = np.random.default_rng(5)

    def weights(skip=()):
        return safetensors_file([(n, "F32", sh, (rng.standard_normal(sh) * 0.3).astype("<f4").tobytes())
                                 for n, sh in shapes if n not in skip])

    def folder(name, config, st):
        shutil.rmtree(path(name), ignore_errors=True)
        os.makedirs(path(name))
        with open(os.path.join(path(name), "config.json"), "w") as f:
            json.dump(config, f, indent=1)
        with open(os.path.join(path(name), "model.safetensors"), "wb") as f:
            f.write(st)

    folder("llama_good", cfg, weights())
    folder("llama_missing_field", {k: v for k, v in cfg.items() if k != "hidden_size"}, weights())
    folder("llama_shape_mismatch", dict(cfg, intermediate_size=32), weights())
    folder("llama_missing_tensor", cfg, weights(skip=("model.layers.0.mlp.up_proj.weight",)))
    folder("llama_bad_gqa", dict(cfg, num_key_value_heads=3, num_attention_heads=2), weights())
    folder("llama_rope_scaling", dict(cfg, rope_scaling={"type": "linear", "factor": 2.0}), weights())
    folder("llama_not_llama", dict(cfg, architectures=["GPT2LMHeadModel"]), weights())
    np.save(path("llama_tokens.npy"), (np.arange(40) % 13 + 3).astype(np.int32))
    np.save(path("llama_tokens_out_of_vocab.npy"), np.array([3, 4, 99, 5] * 10, dtype=np.int32))
    make_kld_files(cfg, shapes, rng)


def make_kld_files(cfg, shapes, rng):
    """For `pare ppl MODEL --ref REF` (KL divergence): a folder whose vocabulary is twice llama_good's, another
    text as token ids, and two tied F32 GGUF models of llama_good's shape whose tokenizers differ in one piece
    (llama_tok_a.gguf, llama_tok_b.gguf), with a text they tokenize. Stored references are made at test time by
    run_bad_input.py (pare ppl --save-ref), so that they follow the format pare writes."""
    import json
    import shutil
    v32 = dict(cfg, vocab_size=32)
    shutil.rmtree(path("llama_vocab32"), ignore_errors=True)
    os.makedirs(path("llama_vocab32"))
    with open(os.path.join(path("llama_vocab32"), "config.json"), "w") as f:
        json.dump(v32, f, indent=1)
    big = {"model.embed_tokens.weight": [32, 8], "lm_head.weight": [32, 8]}
    with open(os.path.join(path("llama_vocab32"), "model.safetensors"), "wb") as f:
        f.write(safetensors_file([(n, "F32", big.get(n, sh), (rng.standard_normal(big.get(n, sh)) * 0.3)
                                   .astype("<f4").tobytes()) for n, sh in shapes]))
    np.save(path("llama_tokens_other.npy"), (np.arange(40) % 11 + 2).astype(np.int32))

    gguf_names = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
                  "model.layers.0.input_layernorm.weight": "blk.0.attn_norm.weight",
                  "model.layers.0.self_attn.q_proj.weight": "blk.0.attn_q.weight",
                  "model.layers.0.self_attn.k_proj.weight": "blk.0.attn_k.weight",
                  "model.layers.0.self_attn.v_proj.weight": "blk.0.attn_v.weight",
                  "model.layers.0.self_attn.o_proj.weight": "blk.0.attn_output.weight",
                  "model.layers.0.post_attention_layernorm.weight": "blk.0.ffn_norm.weight",
                  "model.layers.0.mlp.gate_proj.weight": "blk.0.ffn_gate.weight",
                  "model.layers.0.mlp.up_proj.weight": "blk.0.ffn_up.weight",
                  "model.layers.0.mlp.down_proj.weight": "blk.0.ffn_down.weight"}
    infos, data = [], b""
    for hf, sh in shapes:
        if hf == "lm_head.weight":
            continue  # tied: the head is the embedding
        raw = (rng.standard_normal(sh) * 0.3).astype("<f4").tobytes()
        infos.append(gguf_tensor_info(gguf_names[hf], list(reversed(sh)), 0, len(data)))  # F32, ne innermost first
        data += raw + b"\0" * (-len(raw) % 32)

    def llama_gguf(name, pieces):
        kvs = [gguf_kv("general.architecture", GGUF_STR, "llama"),
               gguf_kv("llama.block_count", GGUF_U32, 1),
               gguf_kv("llama.context_length", GGUF_U32, 32),
               gguf_kv("llama.embedding_length", GGUF_U32, 8),
               gguf_kv("llama.feed_forward_length", GGUF_U32, 16),
               gguf_kv("llama.attention.head_count", GGUF_U32, 2),
               gguf_kv("llama.attention.layer_norm_rms_epsilon", GGUF_F32, 1e-5),
               gguf_kv("tokenizer.ggml.model", GGUF_STR, "llama"),
               gguf_kv("tokenizer.ggml.tokens", GGUF_ARR, (GGUF_STR, pieces)),
               gguf_kv("tokenizer.ggml.scores", GGUF_ARR, (GGUF_F32, [-float(i) for i in range(16)])),
               gguf_kv("tokenizer.ggml.token_type", GGUF_ARR, (GGUF_I32, [2, 3, 3] + [1] * 13))]
        write_bytes(name, gguf_file(kvs, infos, data))
    words = ["\u2581" + w for w in ["the", "a", "of", "and", "to", "in", "is", "it", "that", "was", "he", "for", "on"]]
    llama_gguf("llama_tok_a.gguf", ["<unk>", "<s>", "</s>"] + words)
    llama_gguf("llama_tok_b.gguf", ["<unk>", "<s>", "</s>"] + words[:6] + ["\u2581at"] + words[7:])
    with open(path("llama_text.txt"), "w") as f:
        f.write(" ".join(w[1:] for w in words * 3) + "\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20251125)
    make_onnx_files(rng)
    make_npy_files()
    make_npz_files()
    make_image_files()
    make_package_files()
    make_safetensors_files()
    make_gguf_files()
    make_llama_files()
    for name in sorted(os.listdir(OUT)):
        if os.path.isdir(path(name)):
            continue
        size = os.path.getsize(path(name))
        assert size < 8192, name + " is larger than a corpus file should be"
        print(f"{size:6d}  {name}")


if __name__ == "__main__":
    main()
