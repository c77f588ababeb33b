# SPDX-License-Identifier: GPL-3.0-or-later
"""Independent float64 reference of the critical-neuron search (faithful mode), written apart
from the C++ code, on top of ref_model.py. Run with /usr/bin/python3 (torch 1.13, numpy).

  make    OUTDIR   writes the search fixtures: OUTDIR/planted (tiny llama whose layer-0 down_proj
                   has one massive channel) and OUTDIR/plain (the same without it), F32 safetensors,
                   no tokenizer, plus OUTDIR/golden.json from the reference search below.

The noise generator is the documented counter-based one of core/src/analysis/search_internal.h:
splitmix64 hashes of (seed, sample, element) -> Box-Muller in float64, so C++ and Python draw the
same noise. Importance = mean over K of |A_clean - A_noisy| (float64 here), ranking by importance
descending with ties by (layer, module order, position, channel).
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ref_model import Model, SITES, nll_of  # noqa: E402

M64 = (1 << 64) - 1


def splitmix64_int(x):
    x = (x + 0x9E3779B97F4A7C15) & M64
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def splitmix64_np(x):
    x = x + np.uint64(0x9E3779B97F4A7C15)
    z = x
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def sample_key(seed, k):
    return splitmix64_int(seed ^ splitmix64_int(k))


def normal(key, count):
    with np.errstate(over="ignore"):
        npairs = (count + 1) // 2
        p = np.arange(npairs, dtype=np.uint64)
        base = np.uint64(key)
        a = splitmix64_np(base + np.uint64(2) * p)
        b = splitmix64_np(base + np.uint64(2) * p + np.uint64(1))
    u1 = ((a >> np.uint64(11)).astype(np.float64) + 1.0) * 2.0 ** -53
    u2 = (b >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    r = np.sqrt(-2.0 * np.log(u1))
    out = np.empty(npairs * 2)
    out[0::2] = r * np.cos(2.0 * math.pi * u2)
    out[1::2] = r * np.sin(2.0 * math.pi * u2)
    return out[:count]


# ---- safetensors (F32) without the safetensors package
def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name].detach().numpy().astype(np.float32))
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        s, e = meta["data_offsets"]
        assert meta["dtype"] == "F32"
        a = np.frombuffer(data[s:e], dtype=np.float32).reshape(meta["shape"])
        out[name] = torch.from_numpy(a.astype(np.float64))
    return out


def load(folder):
    cfg = json.load(open(os.path.join(folder, "config.json")))
    return Model(cfg, read_safetensors(os.path.join(folder, "model.safetensors")))


# ---- forward with given input embeddings, through ref_model unchanged: the embeddings are
# appended as extra vocabulary rows addressed by new ids; logits are cut back to the vocabulary.
def forward_embeds(model, embeds, record=None, mask=None):
    T, H = embeds.shape
    V = model.g("model.embed_tokens.weight").shape[0]
    scale = (model.H ** 0.5) if model.gemma else 1.0
    w = dict(model.w)
    w["model.embed_tokens.weight"] = torch.cat([model.w["model.embed_tokens.weight"], embeds / scale], 0)
    if model.tied:
        pass  # logits get T extra columns, cut below
    m2 = Model(model.cfg, w)
    ids = torch.arange(V, V + T)[None, :]
    return m2.forward(ids, record=record, mask=mask)[..., :V]


def embeds_of(model, ids):
    e = model.g("model.embed_tokens.weight")[torch.tensor(ids)]
    return e * (model.H ** 0.5) if model.gemma else e


def ppl_of(model, ids, mask=None):
    t = torch.tensor([ids])
    lg = model.forward(t, mask=mask)
    return math.exp(float(nll_of(lg, t).mean()))


def counter_noise(seed):
    """The project's counter-based generator: sample k depends only on (seed, k)."""
    return lambda k, T, H: normal(sample_key(seed, k), T * H).reshape(T, H)


def torch_noise(seed, K, T, H):
    """As the authors' code draws it: torch.manual_seed(seed), then one torch.randn(1, T, D) per
    sample on the CPU, in order (float32)."""
    torch.manual_seed(seed)
    draws = [torch.randn(1, T, H)[0].double().numpy() for _ in range(K)]
    return lambda k, T_, H_: draws[k]


def file_noise(path):
    """numpy.load of a [K, T, D] array."""
    a = np.load(path).astype(np.float64)
    return lambda k, T, H: a[k]


def stage1(model, ids, alpha, K, seed, noise=None):
    noise = noise or counter_noise(seed)
    clean = {}
    model.forward(torch.tensor([ids]), record=clean)
    acc = {k: torch.zeros_like(v[0]) for k, v in clean.items()}
    e0 = embeds_of(model, ids)
    T, H = e0.shape
    for k in range(K):
        n = torch.from_numpy(np.ascontiguousarray(noise(k, T, H)))
        rec = {}
        forward_embeds(model, e0 + alpha * n, record=rec)
        for key in acc:
            acc[key] += (rec[key][0] - clean[key][0]).abs()
    imp = {k: v / K for k, v in acc.items()}
    N = sum(v.numel() for v in imp.values())
    return imp, N


def rank(imp, mode="paper"):
    """Entries (importance, layer, module index, position, channel); position -1 in channel modes."""
    entries = []
    for (l, m), v in imp.items():
        T_, C = v.shape
        if mode == "paper":
            for p in range(T_):
                for c in range(C):
                    entries.append((float(v[p, c]), l, SITES.index(m), p, c))
        else:
            vv = v.max(0).values if mode == "channel_max" else v.mean(0)
            for c in range(C):
                entries.append((float(vv[c]), l, SITES.index(m), -1, c))
    entries.sort(key=lambda e: (-e[0], e[1], e[2], e[3], e[4]))
    return entries


def stage2(model, ids, ranking, step, eps, max_steps):
    ppl0 = ppl_of(model, ids)
    curve = []
    for s in range(1, max_steps + 1):
        n = s * step
        if n > len(ranking):
            break
        chans = []
        for e in ranking[:n]:
            key = (e[1], e[2], e[4])
            if key not in chans:
                chans.append(key)
        mask = [(l, SITES[m], c, None) for (l, m, c) in chans]
        ppl = ppl_of(model, ids, mask)
        d = math.log10(ppl) - math.log10(ppl0)
        curve.append({"n": n, "unique_channels": len(chans), "ppl": ppl, "delta": d})
        if d >= eps:
            break
    return ppl0, curve


# ---- fixtures
CFG = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 64, "hidden_size": 32,
    "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
    "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "max_position_embeddings": 256, "tie_word_embeddings": False,
    "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32",
}
PLANTED_CHANNEL = 5
IDS = [1, 17, 42, 9, 33, 5, 60, 21, 8, 50, 12, 3]


def make_weights(planted):
    g = torch.Generator().manual_seed(1234)
    H, I, L, V = CFG["hidden_size"], CFG["intermediate_size"], CFG["num_hidden_layers"], CFG["vocab_size"]
    hd = H // CFG["num_attention_heads"]
    kvd = hd * CFG["num_key_value_heads"]

    def r(*shape, s=0.2):
        return torch.randn(*shape, generator=g, dtype=torch.float64) * s

    w = {"model.embed_tokens.weight": r(V, H, s=0.1), "model.norm.weight": 1.0 + r(H, s=0.1),
         "lm_head.weight": r(V, H, s=1.5)}
    for l in range(L):
        p = "model.layers.%d." % l
        w[p + "input_layernorm.weight"] = 1.0 + r(H, s=0.1)
        w[p + "post_attention_layernorm.weight"] = 1.0 + r(H, s=0.1)
        w[p + "self_attn.q_proj.weight"] = r(H, H)
        w[p + "self_attn.k_proj.weight"] = r(kvd, H)
        w[p + "self_attn.v_proj.weight"] = r(kvd, H)
        w[p + "self_attn.o_proj.weight"] = r(H, H)
        w[p + "mlp.gate_proj.weight"] = r(I, H)
        w[p + "mlp.up_proj.weight"] = r(I, H)
        w[p + "mlp.down_proj.weight"] = r(H, I)
    if planted:
        # One massive residual channel written by layer 0's down_proj; the LM head ignores it, so
        # with it the final norm flattens the logits, and without it the (large) head speaks at random.
        c = PLANTED_CHANNEL
        w["model.layers.0.mlp.down_proj.weight"][c, :] = r(I, s=1.0).abs() * 60.0
        w["model.layers.0.mlp.up_proj.weight"][:, :] = w["model.layers.0.mlp.up_proj.weight"].abs()
        w["model.layers.0.mlp.gate_proj.weight"][:, :] = w["model.layers.0.mlp.gate_proj.weight"].abs()
        w["lm_head.weight"][:, c] = 0.0
    # Round to float32 so that the reference computes on exactly the stored weights.
    return {k: v.float().double() for k, v in w.items()}


def run_reference(folder, alpha, K, seed, step, eps, max_steps, top, mode="paper", noise=None):
    model = load(folder)
    imp, N = stage1(model, IDS, alpha, K, seed, noise)
    ranking = rank(imp, mode)
    ppl0, curve = stage2(model, IDS, ranking, step, eps, max_steps)
    return {
        "alpha": alpha, "samples": K, "seed": seed, "step": step, "epsilon": eps, "max_steps": max_steps,
        "mode": mode, "fixture": os.path.basename(os.path.normpath(folder)),
        "total_entries": N, "ppl_orig": ppl0,
        "ranking": [{"layer": e[1], "module": SITES[e[2]], "position": e[3], "channel": e[4], "importance": e[0]}
                    for e in ranking[:top]],
        "curve": curve,
    }


def make(outdir):
    golden = {"ids": IDS, "planted_channel": {"layer": 0, "module": "down_proj", "channel": PLANTED_CHANNEL}}
    for name, planted in (("planted", True), ("plain", False)):
        d = os.path.join(outdir, name)
        os.makedirs(d, exist_ok=True)
        json.dump(CFG, open(os.path.join(d, "config.json"), "w"), indent=1)
        write_safetensors(os.path.join(d, "model.safetensors"), make_weights(planted))
    golden["planted_eps100"] = run_reference(os.path.join(outdir, "planted"), 5.0, 8, 42, 1, 100.0, 30, 300)
    golden["plain_eps100"] = run_reference(os.path.join(outdir, "plain"), 5.0, 8, 42, 2, 100.0, 20, 300)
    golden["plain_channel_max"] = run_reference(os.path.join(outdir, "plain"), 5.0, 5, 3, 1, 100.0, 15, 100,
                                                "channel_max")
    golden["plain_channel_mean"] = run_reference(os.path.join(outdir, "plain"), 2.0, 5, 3, 1, 100.0, 15, 100,
                                                 "channel_mean")
    # Reproducing a run exactly: the noise from a NumPy file (drawn by numpy's own generator,
    # independent of both C++ generators), and PyTorch's generator as the authors' code uses it.
    H = CFG["hidden_size"]
    noise = np.random.default_rng(2510).standard_normal((8, len(IDS), H)).astype(np.float32)
    np.save(os.path.join(outdir, "noise.npy"), noise)
    nf = file_noise(os.path.join(outdir, "noise.npy"))
    golden["planted_noise_file"] = run_reference(os.path.join(outdir, "planted"), 5.0, 8, 42, 1, 100.0, 30, 300,
                                                 noise=nf)
    golden["planted_noise_file"]["noise_file"] = "noise.npy"
    golden["plain_noise_file"] = run_reference(os.path.join(outdir, "plain"), 5.0, 8, 42, 2, 100.0, 20, 300, noise=nf)
    golden["plain_noise_file"]["noise_file"] = "noise.npy"
    golden["plain_torch_rng"] = run_reference(os.path.join(outdir, "plain"), 5.0, 8, 42, 2, 100.0, 20, 300,
                                              noise=torch_noise(42, 8, len(IDS), H))
    golden["plain_torch_rng"]["noise_rng"] = "torch"
    golden["plain_torch_rng"]["torch"] = torch.__version__
    # Other families from the model engineer's fixtures (gemma: noise on the sqrt(d)-scaled embeddings).
    fam = os.path.join(os.path.dirname(os.path.normpath(outdir)))
    for name in ("gemma", "qwen2", "gemma2"):
        d = os.path.join(fam, name)
        if os.path.exists(os.path.join(d, "model.safetensors")):
            golden[name + "_paper"] = run_reference(d, 5.0, 4, 42, 1, 100.0, 12, 150)
    json.dump(golden, open(os.path.join(outdir, "golden.json"), "w"), indent=1)
    print("wrote", outdir, "planted ppl0", golden["planted_eps100"]["ppl_orig"],
          "curve", [round(p["delta"], 3) for p in golden["planted_eps100"]["curve"][:5]],
          "top", golden["planted_eps100"]["ranking"][:3])


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "make":
        make(sys.argv[2])
    else:
        print(__doc__)
        sys.exit(2)
