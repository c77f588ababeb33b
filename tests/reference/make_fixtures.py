# SPDX-License-Identifier: GPL-3.0-or-later
"""Generates the tiny per-family fixtures and their float64 goldens (run with /usr/bin/python3).

  /usr/bin/python3 tests/reference/make_fixtures.py [OUT_DIR]   (default: tests/fixtures)

Each fixture folder holds config.json, model.safetensors (or shards + index), generation_config.json
and golden.json with: ids [2,T] (two equal-length sequences), logits (float64, [2,T,V]), nll and
ppl of sequence 0, recorded hook sites of sequence 0, masked NLL/PPL under a 3-channel mask and a
position-limited mask, and 8 greedy tokens from a 4-token prompt. Weights are seeded numpy arrays;
safetensors files are written here in pure python.
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ref_model import Model, nll_of, greedy  # noqa: E402

torch.set_grad_enabled(False)

# ------------------------------------------------------------------ safetensors (pure python)
DT = {"F32": (np.float32, 4), "F16": (np.float16, 2), "BF16": (None, 2)}


def to_bf16_bits(a):
    b = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
    rounded = ((b + 0x7FFF + ((b >> 16) & 1)) >> 16).astype(np.uint16)  # round to nearest even
    return rounded


def bf16_bits_to_f64(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def encode(a, dtype):
    """Returns (bytes, the exact float64 values stored)."""
    if dtype == "F32":
        x = np.ascontiguousarray(a, dtype=np.float32)
        return x.tobytes(), x.astype(np.float64)
    if dtype == "F16":
        x = np.ascontiguousarray(a, dtype=np.float16)
        return x.tobytes(), x.astype(np.float64)
    if dtype == "BF16":
        bits = to_bf16_bits(a)
        return bits.tobytes(), bf16_bits_to_f64(bits).reshape(a.shape)
    raise ValueError(dtype)


def write_safetensors(path, tensors, dtype):
    """tensors: list of (name, np array). Returns name -> stored float64 values."""
    header, blobs, stored, off = {}, [], {}, 0
    for name, arr in tensors:
        raw, vals = encode(arr, dtype)
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        stored[name] = vals
        off += len(raw)
    header["__metadata__"] = {"format": "pt"}
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * ((8 - len(hj) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)
    return stored


# ------------------------------------------------------------------ weights from the config
def tensor_specs(cfg):
    mt = cfg["model_type"]
    H, I, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    nh = cfg["num_attention_heads"]
    nkv = cfg.get("num_key_value_heads", nh)
    hd = cfg.get("head_dim") or H // nh
    gemma = mt in ("gemma", "gemma2")
    tied = cfg.get("tie_word_embeddings", gemma)
    specs = [("model.embed_tokens.weight", (V, H), "w")]
    for l in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % l
        specs.append((p + "input_layernorm.weight", (H,), "n"))
        if mt == "phi3":
            specs.append((p + "self_attn.qkv_proj.weight", ((nh + 2 * nkv) * hd, H), "w"))
        else:
            specs += [(p + "self_attn.q_proj.weight", (nh * hd, H), "w"),
                      (p + "self_attn.k_proj.weight", (nkv * hd, H), "w"),
                      (p + "self_attn.v_proj.weight", (nkv * hd, H), "w")]
            if mt == "qwen2" or cfg.get("attention_bias"):
                specs += [(p + "self_attn.q_proj.bias", (nh * hd,), "b"),
                          (p + "self_attn.k_proj.bias", (nkv * hd,), "b"),
                          (p + "self_attn.v_proj.bias", (nkv * hd,), "b")]
        specs.append((p + "self_attn.o_proj.weight", (H, nh * hd), "w"))
        if cfg.get("attention_bias") and mt != "qwen2":
            specs.append((p + "self_attn.o_proj.bias", (H,), "b"))
        if mt == "qwen3":
            specs += [(p + "self_attn.q_norm.weight", (hd,), "n"), (p + "self_attn.k_norm.weight", (hd,), "n")]
        specs.append((p + "post_attention_layernorm.weight", (H,), "n"))
        if mt == "gemma2":
            specs += [(p + "pre_feedforward_layernorm.weight", (H,), "n"),
                      (p + "post_feedforward_layernorm.weight", (H,), "n")]
        if mt == "phi3":
            specs.append((p + "mlp.gate_up_proj.weight", (2 * I, H), "w"))
        else:
            specs += [(p + "mlp.gate_proj.weight", (I, H), "w"), (p + "mlp.up_proj.weight", (I, H), "w")]
            if cfg.get("mlp_bias"):
                specs += [(p + "mlp.gate_proj.bias", (I,), "b"), (p + "mlp.up_proj.bias", (I,), "b")]
        specs.append((p + "mlp.down_proj.weight", (H, I), "w"))
        if cfg.get("mlp_bias"):
            specs.append((p + "mlp.down_proj.bias", (H,), "b"))
    specs.append(("model.norm.weight", (H,), "n"))
    if not tied:
        specs.append(("lm_head.weight", (V, H), "w"))
    return specs


def make_weights(cfg, seed, wstd):
    rng = np.random.default_rng(seed)
    gemma = cfg["model_type"] in ("gemma", "gemma2")
    out = []
    for name, shape, kind in tensor_specs(cfg):
        if kind == "w":
            a = rng.normal(0.0, wstd, size=shape)
        elif kind == "b":
            a = rng.normal(0.0, 0.1, size=shape)
        else:  # norm weights: around 1 (gemma: around 0 since it uses 1 + w)
            a = rng.normal(0.0 if gemma else 1.0, 0.2, size=shape)
        out.append((name, a.astype(np.float32)))
    return out


# ------------------------------------------------------------------ the fixtures
BASE = dict(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, rms_norm_eps=1e-6, rope_theta=10000.0, max_position_embeddings=64,
            bos_token_id=1, eos_token_id=2, torch_dtype="float32")


def fx(name, model_type, arch, seq=12, dtype="F32", shards=1, wstd=0.25, **kw):
    cfg = dict(BASE)
    cfg.update(model_type=model_type, architectures=[arch])
    cfg.update(kw)
    return dict(name=name, cfg=cfg, seq=seq, dtype=dtype, shards=shards, wstd=wstd)


FIXTURES = [
    fx("llama3", "llama", "LlamaForCausalLM", head_dim=12, tie_word_embeddings=False, attention_bias=True,
       mlp_bias=True, rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                                        original_max_position_embeddings=16)),
    fx("mistral", "mistral", "MistralForCausalLM", sliding_window=5, tie_word_embeddings=False),
    fx("qwen2", "qwen2", "Qwen2ForCausalLM", tie_word_embeddings=False, use_sliding_window=False,
       sliding_window=4096, max_window_layers=2, eos_token_id=[2, 3]),
    fx("qwen3", "qwen3", "Qwen3ForCausalLM", head_dim=16, tie_word_embeddings=True, attention_bias=False,
       use_sliding_window=False, sliding_window=None, max_window_layers=2),
    fx("gemma", "gemma", "GemmaForCausalLM", head_dim=16, num_key_value_heads=1, hidden_act="gelu",
       hidden_activation="gelu_pytorch_tanh", tie_word_embeddings=True),
    fx("gemma2", "gemma2", "Gemma2ForCausalLM", head_dim=8, hidden_activation="gelu_pytorch_tanh",
       query_pre_attn_scalar=24, attn_logit_softcapping=4.0, final_logit_softcapping=3.0, sliding_window=4,
       tie_word_embeddings=True, wstd=0.4),
    fx("phi3", "phi3", "Phi3ForCausalLM", hidden_size=32, num_attention_heads=2, num_key_value_heads=1,
       partial_rotary_factor=0.5, max_position_embeddings=64, original_max_position_embeddings=8,
       tie_word_embeddings=False, hidden_act="silu",
       rope_scaling=dict(type="longrope", short_factor=[1.0, 1.3, 1.9, 2.6], long_factor=[1.5, 3.0, 7.0, 15.0])),
    fx("llama_sharded", "llama", "LlamaForCausalLM", tie_word_embeddings=True, shards=2),
    fx("llama_bf16", "llama", "LlamaForCausalLM", tie_word_embeddings=False, dtype="BF16", torch_dtype="bfloat16"),
    fx("llama_f16", "llama", "LlamaForCausalLM", tie_word_embeddings=False, dtype="F16", torch_dtype="float16"),
]

RECORD = [(0, "q_proj"), (0, "k_proj"), (0, "v_proj"), (0, "post_attention_layernorm"), (1, "act_fn"),
          (1, "down_proj"), (1, "o_proj")]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out_root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "fixtures")
    for i, f in enumerate(FIXTURES):
        cfg = f["cfg"]
        d = os.path.join(out_root, f["name"])
        os.makedirs(d, exist_ok=True)
        for old in os.listdir(d):
            os.remove(os.path.join(d, old))
        tensors = make_weights(cfg, 1000 + i, f["wstd"])
        stored = {}
        if f["shards"] == 1:
            stored.update(write_safetensors(os.path.join(d, "model.safetensors"), tensors, f["dtype"]))
        else:
            n = f["shards"]
            per = math.ceil(len(tensors) / n)
            weight_map, total = {}, 0
            for s in range(n):
                part = tensors[s * per:(s + 1) * per]
                fname = "model-%05d-of-%05d.safetensors" % (s + 1, n)
                stored.update(write_safetensors(os.path.join(d, fname), part, f["dtype"]))
                for name, a in part:
                    weight_map[name] = fname
                    total += a.size * 4
            with open(os.path.join(d, "model.safetensors.index.json"), "w") as fh:
                json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, fh, indent=1)
        with open(os.path.join(d, "config.json"), "w") as fh:
            json.dump(cfg, fh, indent=1)
        eos = cfg["eos_token_id"]
        with open(os.path.join(d, "generation_config.json"), "w") as fh:
            json.dump({"bos_token_id": 1, "eos_token_id": eos}, fh)

        model = Model(cfg, {k: torch.tensor(v, dtype=torch.float64) for k, v in stored.items()})
        rng = np.random.default_rng(7 + i)
        T, V = f["seq"], cfg["vocab_size"]
        ids = rng.integers(3, V, size=(2, T))
        ids[:, 0] = 1
        ids_t = torch.tensor(ids)
        rec = {}
        logits = model.forward(ids_t, record=rec)
        nll = nll_of(logits[:1], ids_t[:1])
        H = cfg["hidden_size"]
        mask = [(0, "down_proj", 3, None), (1, "act_fn", 5, None), (0, "q_proj", 7, None), (1, "down_proj", 11, None)]
        mlog = model.forward(ids_t[:1], mask=mask)
        mnll = nll_of(mlog, ids_t[:1])
        pmask = [(1, "o_proj", 2, [3, 5]), (0, "post_attention_layernorm", H - 1, [0, 4, 9])]
        plog = model.forward(ids_t[:1], mask=pmask)
        pnll = nll_of(plog, ids_t[:1])
        prompt = [int(x) for x in ids[0, :4]]
        gtoks = greedy(model, prompt, 8)
        gmask = greedy_masked(model, prompt, 6, mask)
        golden = {
            "fixture": f["name"], "dtype": f["dtype"], "ids": ids.tolist(),
            "logits": logits.numpy().tolist(),
            "nll": nll.tolist(), "ppl": math.exp(float(nll.mean())),
            "sites": [{"layer": l, "module": m, "values": rec[(l, m)][0].numpy().tolist()} for (l, m) in RECORD],
            "mask": [{"layer": l, "module": m, "channel": c} for (l, m, c, _) in mask],
            "mask_nll": mnll.tolist(), "mask_ppl": math.exp(float(mnll.mean())),
            "pos_mask": [{"layer": l, "module": m, "channel": c, "positions": p} for (l, m, c, p) in pmask],
            "pos_mask_nll": pnll.tolist(), "pos_mask_ppl": math.exp(float(pnll.mean())),
            "greedy_prompt": prompt, "greedy_tokens": gtoks, "greedy_mask_tokens": gmask,
        }
        with open(os.path.join(d, "golden.json"), "w") as fh:
            json.dump(round_floats(golden), fh, separators=(",", ":"))
        print("%-14s ppl %.6f  masked %.6f  greedy %s" % (f["name"], golden["ppl"], golden["mask_ppl"], gtoks))


def greedy_masked(model, prompt, n, mask):
    ids = list(prompt)
    for _ in range(n):
        lg = model.forward(torch.tensor([ids]), mask=mask)
        ids.append(int(torch.argmax(lg[0, -1])))
    return ids[len(prompt):]


def round_floats(o):
    if isinstance(o, float):
        return float("%.9g" % o)
    if isinstance(o, list):
        return [round_floats(x) for x in o]
    if isinstance(o, dict):
        return {k: round_floats(v) for k, v in o.items()}
    return o


if __name__ == "__main__":
    main()
