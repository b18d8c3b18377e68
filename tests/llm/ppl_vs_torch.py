#!/usr/bin/env python3
# pare ppl against an independent PyTorch Llama (written here from the Hugging Face LlamaForCausalLM
# architecture, float64) on the same weights and tokens, under both protocols: perplexities must agree to
# 0.1 %. The model is written by this script, not by pare (safetensors bytes by hand from the format spec),
# with weights scaled up so that its predictions are far from uniform and any deviation in RoPE, GQA,
# RMSNorm or masking moves the perplexity. Variants: untied fp16 weights in two shards with an index,
# and tied fp32 weights in one file. Then pare ppl --ref (KL divergence, top-1 agreement, perplexity ratio) against
# the same quantities from the PyTorch model, live and through a stored reference (--save-ref).
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


def protocol_windows(cfg, tokens, ctx, protocol):
    """ids [N, ctx], the targets of positions first..ctx-2, and first."""
    toks = ([cfg["bos_token_id"]] if protocol == "llamacpp" else []) + list(tokens)
    n = len(toks) // ctx
    ids = torch.tensor([int(t) for t in toks[:n * ctx]], dtype=torch.long).view(n, ctx)
    first = 0 if protocol == "windows" else ctx // 2
    if protocol == "llamacpp":
        targets = ids[:, first + 1:].clone()
        ids[:, 0] = cfg["bos_token_id"]
    else:
        targets = ids[:, 1:].clone()
    return ids, targets, first


def reference_ppl(cfg, w, tokens, ctx, protocol):
    ids, targets, first = protocol_windows(cfg, tokens, ctx, protocol)
    lp = torch.log_softmax(llama_logits(cfg, w, ids), -1)[:, first:ctx - 1]
    nll = -lp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return math.exp(nll.mean().item()), nll.numel()


def reference_kld(cfg, w_ref, w_model, tokens, ctx, protocol):
    """Mean KL(ref || model), top-1 agreement (%) and ppl_model / ppl_ref over the scored positions, float64."""
    ids, targets, first = protocol_windows(cfg, tokens, ctx, protocol)
    lr = torch.log_softmax(llama_logits(cfg, w_ref, ids), -1)[:, first:ctx - 1]
    lm = torch.log_softmax(llama_logits(cfg, w_model, ids), -1)[:, first:ctx - 1]
    kld = (lr.exp() * (lr - lm)).sum(-1)
    top1 = (lr.argmax(-1) == lm.argmax(-1)).double().mean().item() * 100
    nll_r = -lr.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    nll_m = -lm.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return kld.mean().item(), top1, math.exp((nll_m - nll_r).mean().item()), kld.numel()


def check_kld(pare, tmp, tok_file, tokens):
    """pare ppl CANDIDATE --ref REF against reference_kld: the reference is untied fp16, the candidate the same
    weights in fp32 with layer 1's projections perturbed (a stand-in for quantization). Then the same through a
    stored reference (--save-ref), which must give the live reference's numbers exactly."""
    failures = 0
    cfg = dict(CFG)
    weights = random_weights(cfg, seed=11)
    rng = np.random.default_rng(12)
    cand = {k: (v + 0.05 * rng.standard_normal(v.shape).astype(np.float32) * np.abs(v).mean()
                if k.startswith("model.layers.1.") and v.ndim == 2 else v) for k, v in weights.items()}
    ref_dir, cand_dir = os.path.join(tmp, "kld-ref"), os.path.join(tmp, "kld-cand")
    write_model(ref_dir, cfg, weights, "F16", 1)
    write_model(cand_dir, cfg, cand, "F32", 1)
    w_ref = {k: torch.from_numpy(v.astype("<f2").astype(np.float64)) for k, v in weights.items()}
    w_cand = {k: torch.from_numpy(v.astype(np.float64)) for k, v in cand.items()}
    for protocol, ctx in (("windows", 64), ("llamacpp", 96)):
        live, stored = os.path.join(tmp, f"kld-{protocol}.json"), os.path.join(tmp, f"kld-{protocol}-stored.json")
        ref_file = os.path.join(tmp, f"ref-{protocol}.safetensors")
        common = ["--tokens", tok_file, "--ctx", str(ctx), "--protocol", protocol, "--threads", "2", "--quiet"]
        subprocess.run([pare, "ppl", cand_dir, "--ref", ref_dir, "--save-ref", ref_file, "--json", live] + common,
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run([pare, "ppl", cand_dir, "--ref", ref_file, "--json", stored] + common, check=True,
                       stdout=subprocess.DEVNULL)
        with open(live) as f:
            got = json.load(f)["kld"]
        with open(stored) as f:
            got_stored = json.load(f)["kld"]
        want_kld, want_top1, want_ratio, scored = reference_kld(cfg, w_ref, w_cand, tokens, ctx, protocol)
        rel = abs(got["mean"] - want_kld) / want_kld
        same = all(got[k] == got_stored[k] for k in ("mean", "p99", "max", "top1_same_percent", "ppl_ref", "ppl_model"))
        ok = (rel < 1e-3 and abs(got["top1_same_percent"] - want_top1) < 0.5 and
              abs(got["ppl_ratio"] - want_ratio) < 1e-5 and got["scored_tokens"] == scored and same)
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} kld {protocol} ctx {ctx}: pare {got['mean']:.6e} torch {want_kld:.6e} "
              f"(rel {rel:.2e}), top-1 {got['top1_same_percent']:.2f} vs {want_top1:.2f} %, ppl ratio "
              f"{got['ppl_ratio']:.6f} vs {want_ratio:.6f}, stored reference {'equal' if same else 'DIFFERENT'}, "
              f"{os.path.getsize(ref_file)} bytes")
    return failures


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
        failures += check_kld(pare, tmp, tok_file, tokens)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
