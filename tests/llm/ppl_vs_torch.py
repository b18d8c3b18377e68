#!/usr/bin/env python3
# pare ppl against an independent PyTorch Llama (written here from the Hugging Face LlamaForCausalLM
# architecture, float64) on the same weights and tokens, under both protocols: perplexities must agree to
# 0.1 %. The model is written by this script, not by pare (safetensors bytes by hand from the format spec),
# with weights scaled up so that its predictions are far from uniform and any deviation in RoPE, GQA,
# RMSNorm or masking moves the perplexity. Variants: untied fp16 weights in two shards with an index,
# and tied fp32 weights in one file.
# Usage: ppl_vs_torch.py PARE_BINARY
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch

CFG = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 320, "hidden_size": 96,
       "intermediate_size": 160, "num_hidden_layers": 2, "num_attention_heads": 6, "num_key_value_heads": 2,
       "max_position_embeddings": 128, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu",
       "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 2}


def tensor_shapes(cfg):
    d, f, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    dh = d // cfg["num_attention_heads"]
    kv = cfg["num_key_value_heads"] * dh
    shapes = {"model.embed_tokens.weight": (v, d), "model.norm.weight": (d,)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        shapes.update({p + "input_layernorm.weight": (d,), p + "post_attention_layernorm.weight": (d,),
                       p + "self_attn.q_proj.weight": (d, d), p + "self_attn.k_proj.weight": (kv, d),
                       p + "self_attn.v_proj.weight": (kv, d), p + "self_attn.o_proj.weight": (d, d),
                       p + "mlp.gate_proj.weight": (f, d), p + "mlp.up_proj.weight": (f, d),
                       p + "mlp.down_proj.weight": (d, f)})
    if not cfg["tie_word_embeddings"]:
        shapes["lm_head.weight"] = (v, d)
    return shapes


def random_weights(cfg, seed):
    rng = np.random.default_rng(seed)
    w = {}
    for name, shape in tensor_shapes(cfg).items():
        if len(shape) == 1:
            w[name] = (1.0 + 0.2 * rng.standard_normal(shape)).astype(np.float32)
        else:
            w[name] = (rng.standard_normal(shape) * 1.5 / math.sqrt(shape[1])).astype(np.float32)
    w["model.embed_tokens.weight"] *= 2.0  # rows of norm about 3: logits spread over a few nats
    return w


def write_safetensors(path, tensors, dtype):
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, a in tensors.items():
        raw = a.astype("<f2" if dtype == "F16" else "<f4").tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def write_model(folder, cfg, weights, dtype, shards):
    os.makedirs(folder)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f)
    names = list(weights)
    if shards == 1:
        write_safetensors(os.path.join(folder, "model.safetensors"), weights, dtype)
        return
    index = {"metadata": {}, "weight_map": {}}
    per = math.ceil(len(names) / shards)
    for s in range(shards):
        file = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        part = {n: weights[n] for n in names[s * per:(s + 1) * per]}
        write_safetensors(os.path.join(folder, file), part, dtype)
        index["weight_map"].update({n: file for n in part})
    with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f)


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], -1)


def llama_logits(cfg, w, ids):
    """HF LlamaForCausalLM forward in float64: ids [N, T] -> logits [N, T, V]."""
    N, T = ids.shape
    d, H, Hkv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    dh, eps = d // H, cfg["rms_norm_eps"]
    inv_freq = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, dh, 2, dtype=torch.float64) / dh))
    ang = torch.outer(torch.arange(T, dtype=torch.float64), inv_freq)
    cos, sin = torch.cat([ang, ang], -1).cos(), torch.cat([ang, ang], -1).sin()
    mask = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)
    x = w["model.embed_tokens.weight"][ids]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = (h @ w[p + "self_attn.q_proj.weight"].T).view(N, T, H, dh).transpose(1, 2)
        k = (h @ w[p + "self_attn.k_proj.weight"].T).view(N, T, Hkv, dh).transpose(1, 2)
        v = (h @ w[p + "self_attn.v_proj.weight"].T).view(N, T, Hkv, dh).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k, v = k.repeat_interleave(H // Hkv, dim=1), v.repeat_interleave(H // Hkv, dim=1)
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh) + mask, -1) @ v
        x = x + a.transpose(1, 2).reshape(N, T, d) @ w[p + "self_attn.o_proj.weight"].T
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        g = h @ w[p + "mlp.gate_proj.weight"].T
        x = x + (torch.nn.functional.silu(g) * (h @ w[p + "mlp.up_proj.weight"].T)) @ w[p + "mlp.down_proj.weight"].T
    x = rms_norm(x, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else w["lm_head.weight"]
    return x @ head.T


def reference_ppl(cfg, w, tokens, ctx, protocol):
    toks = ([cfg["bos_token_id"]] if protocol == "llamacpp" else []) + list(tokens)
    n = len(toks) // ctx
    ids = torch.tensor([int(t) for t in toks[:n * ctx]], dtype=torch.long).view(n, ctx)
    first = 0 if protocol == "windows" else ctx // 2
    if protocol == "llamacpp":
        targets = ids[:, first + 1:].clone()
        ids[:, 0] = cfg["bos_token_id"]
    else:
        targets = ids[:, 1:].clone()
    lp = torch.log_softmax(llama_logits(cfg, w, ids), -1)[:, first:ctx - 1]
    nll = -lp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return math.exp(nll.mean().item()), nll.numel()


def main():
    pare = sys.argv[1]
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        tokens = np.random.default_rng(7).integers(3, CFG["vocab_size"], size=700).astype(np.int32)
        tok_file = os.path.join(tmp, "tokens.npy")
        np.save(tok_file, tokens)
        variants = [("untied-f16-2shards", dict(CFG), "F16", 2),
                    ("tied-f32", dict(CFG, tie_word_embeddings=True), "F32", 1)]
        for name, cfg, dtype, shards in variants:
            weights = random_weights(cfg, seed=len(name))
            folder = os.path.join(tmp, name)
            write_model(folder, cfg, weights, dtype, shards)
            # The reference sees exactly the stored values (fp16-rounded for F16), in float64.
            stored = {k: torch.from_numpy(v.astype("<f2" if dtype == "F16" else "<f4").astype(np.float64))
                      for k, v in weights.items()}
            for protocol, ctx in (("windows", 64), ("llamacpp", 96)):
                out = os.path.join(tmp, f"{name}-{protocol}.json")
                subprocess.run([pare, "ppl", folder, "--tokens", tok_file, "--ctx", str(ctx), "--protocol", protocol,
                                "--json", out, "--threads", "2"], check=True, stdout=subprocess.DEVNULL)
                with open(out) as f:
                    got = json.load(f)
                want, scored = reference_ppl(cfg, stored, tokens, ctx, protocol)
                rel = abs(got["perplexity"] - want) / want
                ok = rel < 1e-3 and got["scored_tokens"] == scored
                failures += not ok
                print(f"{'ok  ' if ok else 'FAIL'} {name} {protocol} ctx {ctx}: pare {got['perplexity']:.6f} "
                      f"torch {want:.6f} (rel {rel:.2e}), scored {got['scored_tokens']} vs {scored}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
