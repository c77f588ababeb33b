#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""A vectorized PyTorch implementation of the critical-neuron search (arXiv 2510.10238), the peer
of `achilles-cli bench --only side-by-side`. Torch only (no transformers, no numpy): Llama-family
models (llama, mistral, qwen2 without sliding windows) in float32 on the CPU.

Same algorithm and settings as `achilles-cli search --noise-rng torch`:
  stage 1: torch.manual_seed(seed); K draws of torch.randn(1, T, H) (in order) added as
           alpha * noise to the input embeddings; all K noisy samples go through the model in
           batches of --batch (default: all K in one batch); importance of every hooked entry
           (layer, module, position, channel) = mean over K of |clean - noisy|; top-M entries.
  stage 2: n = step, 2 step, ... ; the prefix's unique channels are zeroed at their sites at every
           position; a forward runs only when the set of unique channels changes; stop at
           log10 PPL_masked - log10 PPL_orig >= epsilon or after max_steps.
Prints one JSON object: wall seconds of stage 1, stage 2 and both (model loading and torch's
import excluded), n*, the perplexities and the first ranking entries.

  python3 vectorized_search.py --model DIR --ids 1,2,3,... [--samples 100 --alpha 5 --seed 42
          --epsilon 1 --step 1 --max-steps 100000 --top 100000 --batch 0 --threads 1]
"""
import argparse
import json
import math
import os
import struct
import time

import torch

SITES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "act_fn", "down_proj",
         "post_attention_layernorm")  # the project's Module order (ties in the ranking)
DT = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = bytearray(f.read())
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        s, e = meta["data_offsets"]
        dt = DT[meta["dtype"]]
        t = torch.frombuffer(data, dtype=dt, count=(e - s) // torch.empty(0, dtype=dt).element_size(), offset=s)
        out[name] = t.reshape(meta["shape"]).float()
    return out


class Llama:
    def __init__(self, folder):
        cfg = json.load(open(os.path.join(folder, "config.json")))
        if cfg.get("model_type") not in ("llama", "mistral", "qwen2"):
            raise SystemExit("vectorized_search.py: only llama-family models (got %s)" % cfg.get("model_type"))
        self.w = read_safetensors(os.path.join(folder, "model.safetensors"))
        self.H, self.L = cfg["hidden_size"], cfg["num_hidden_layers"]
        self.nh = cfg["num_attention_heads"]
        self.nkv = cfg.get("num_key_value_heads") or self.nh
        self.hd = cfg.get("head_dim") or self.H // self.nh
        self.eps = cfg.get("rms_norm_eps", 1e-6)
        theta = cfg.get("rope_theta", 10000.0)
        self.inv = 1.0 / theta ** (torch.arange(0, self.hd, 2, dtype=torch.float64) / self.hd)
        self.embed = self.w["model.embed_tokens.weight"]
        self.head = self.w.get("lm_head.weight", self.embed)
        self.layers = []
        for l in range(self.L):
            p = "model.layers.%d." % l
            g = lambda n: self.w.get(p + n)  # noqa: E731
            self.layers.append({k: g(n) for k, n in (
                ("in", "input_layernorm.weight"), ("post", "post_attention_layernorm.weight"),
                ("q", "self_attn.q_proj.weight"), ("k", "self_attn.k_proj.weight"), ("v", "self_attn.v_proj.weight"),
                ("qb", "self_attn.q_proj.bias"), ("kb", "self_attn.k_proj.bias"), ("vb", "self_attn.v_proj.bias"),
                ("o", "self_attn.o_proj.weight"), ("gate", "mlp.gate_proj.weight"), ("up", "mlp.up_proj.weight"),
                ("down", "mlp.down_proj.weight"))})
        self.final = self.w["model.norm.weight"]
        self.tables = {}

    def rms(self, x, w):
        return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))

    def table(self, T):
        if T not in self.tables:
            ang = torch.arange(T, dtype=torch.float64)[:, None] * self.inv[None, :]
            emb = torch.cat([ang, ang], -1)
            mask = torch.ones(T, T, dtype=torch.bool).triu(1)
            self.tables[T] = (emb.cos().float(), emb.sin().float(), mask)
        return self.tables[T]

    def forward(self, h, site):
        """h [B,T,H] input embeddings; site(layer, module index, tensor) -> tensor."""
        B, T, _ = h.shape
        cos, sin, mask = self.table(T)
        half = self.hd // 2

        def rope(x):
            return x * cos + torch.cat([-x[..., half:], x[..., :half]], -1) * sin

        def lin(x, w, b=None):
            return torch.nn.functional.linear(x, w, b)

        for l, W in enumerate(self.layers):
            x = self.rms(h, W["in"])
            q = site(l, 0, lin(x, W["q"], W["qb"]))
            k = site(l, 1, lin(x, W["k"], W["kb"]))
            v = site(l, 2, lin(x, W["v"], W["vb"]))
            q = rope(q.view(B, T, self.nh, self.hd).transpose(1, 2))
            k = rope(k.view(B, T, self.nkv, self.hd).transpose(1, 2))
            v = v.view(B, T, self.nkv, self.hd).transpose(1, 2)
            rep = self.nh // self.nkv
            if rep > 1:
                k, v = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
            s = (q @ k.transpose(-1, -2)) * self.hd ** -0.5
            a = torch.softmax(s.masked_fill(mask, float("-inf")), -1) @ v
            o = site(l, 3, lin(a.transpose(1, 2).reshape(B, T, self.nh * self.hd), W["o"]))
            h = h + o
            x = site(l, 8, self.rms(h, W["post"]))
            gate = site(l, 4, lin(x, W["gate"]))
            up = site(l, 5, lin(x, W["up"]))
            act = site(l, 6, torch.nn.functional.silu(gate))
            h = h + site(l, 7, lin(act * up, W["down"]))
        return lin(self.rms(h, self.final), self.head)


def ppl_of(model, ids_t, masks=None):
    def site(l, m, t):
        idx = masks.get((l, m)) if masks else None
        return t.index_fill(-1, idx, 0.0) if idx is not None else t
    logits = model.forward(model.embed[ids_t][None], site)[0, :-1]
    nll = torch.logsumexp(logits, -1) - logits.gather(-1, ids_t[1:, None])[:, 0]
    return math.exp(float(nll.double().mean()))


def search(model, ids, a):
    ids_t = torch.tensor(ids, dtype=torch.long)
    T, H = len(ids), model.H
    t0 = time.perf_counter()
    # ---- stage 1
    clean = {}

    def rec(l, m, t):
        clean[(l, m)] = t[0]
        return t
    e0 = model.embed[ids_t][None]
    model.forward(e0, rec)
    keys = sorted(clean)  # (layer, module index): the ranking's tie order
    acc = {k: torch.zeros_like(clean[k]) for k in keys}
    torch.manual_seed(a.seed)
    noise = torch.cat([torch.randn(1, T, H) for _ in range(a.samples)], 0)
    B = a.batch if a.batch > 0 else a.samples
    for first in range(0, a.samples, B):
        nb = min(B, a.samples - first)

        def add(l, m, t):
            acc[(l, m)] += (t - clean[(l, m)]).abs().sum(0)
            return t
        model.forward(e0 + a.alpha * noise[first:first + nb], add)
    flat = torch.cat([acc[k].reshape(-1) for k in keys]) / a.samples
    site_of = torch.cat([torch.full((acc[k].numel(),), i, dtype=torch.long) for i, k in enumerate(keys)])
    off = torch.cat([torch.arange(acc[k].numel()) for k in keys])
    M = min(a.top, flat.numel())
    thr = torch.topk(flat, M).values.min()
    keep = (flat >= thr).nonzero()[:, 0]
    order = torch.sort(flat[keep], stable=True, descending=True).indices[:M]
    keep = keep[order]
    t1 = time.perf_counter()
    # ---- stage 2
    width = {k: acc[k].shape[-1] for k in keys}
    ranking = []
    for s, o in zip(site_of[keep].tolist(), off[keep].tolist()):
        l, m = keys[s]
        ranking.append((l, m, o // width[keys[s]], o % width[keys[s]]))
    ppl0 = ppl_of(model, ids_t)
    seen, chans, unique_at = set(), [], [0]
    for (l, m, p, c) in ranking:
        if (l, m, c) not in seen:
            seen.add((l, m, c))
            chans.append((l, m, c))
        unique_at.append(len(chans))
    cache, curve, n_star, reached, forwards = {}, [], 0, False, 1
    for s in range(1, a.max_steps + 1):
        n = s * a.step
        if n > len(ranking):
            break
        u = unique_at[n]
        if u not in cache:
            groups = {}
            for (l, m, c) in chans[:u]:
                groups.setdefault((l, m), []).append(c)
            cache[u] = ppl_of(model, ids_t, {k: torch.tensor(v) for k, v in groups.items()})
            forwards += 1
        d = math.log10(cache[u]) - math.log10(ppl0)
        curve.append(d)
        n_star = n
        if d >= a.epsilon:
            reached = True
            break
    t2 = time.perf_counter()
    return {
        "stage1_s": t1 - t0, "stage2_s": t2 - t1, "search_s": t2 - t0, "n_star": n_star, "reached": reached,
        "unique_channels": unique_at[n_star] if n_star else 0, "ppl_orig": ppl0,
        "ppl_masked": cache.get(unique_at[n_star], ppl0) if n_star else ppl0, "stage2_forwards": forwards,
        "steps": len(curve), "entries": int(flat.numel()), "threads": torch.get_num_threads(), "batch": B,
        "torch": torch.__version__,
        "ranking_head": [{"layer": l, "module": SITES[m], "position": p, "channel": c} for (l, m, p, c) in ranking[:20]],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--ids", required=True, help="comma list of token ids (BOS included)")
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--alpha", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--epsilon", type=float, default=3.0)
    ap.add_argument("--step", type=int, default=1)
    ap.add_argument("--max-steps", type=int, default=1000)
    ap.add_argument("--top", type=int, default=100000)
    ap.add_argument("--batch", type=int, default=0, help="noisy samples per forward (0: all K)")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    ap.add_argument("--repeat", type=int, default=1, help="run the search this many times, report the fastest")
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.set_grad_enabled(False)
    model = Llama(a.model)
    ids = [int(x) for x in a.ids.split(",") if x.strip()]
    best = None
    for _ in range(max(1, a.repeat)):
        r = search(model, ids, a)
        if best is None or r["search_s"] < best["search_s"]:
            best = r
    print(json.dumps(best))


if __name__ == "__main__":
    main()
