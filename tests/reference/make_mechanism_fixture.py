#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""A tiny llama with a planted massive-activation -> attention-sink mechanism (issue 9).

  make_mechanism_fixture.py [OUT]      (default tests/fixtures/mechanism; run with /usr/bin/python3)

Writes OUT/config.json, OUT/model.safetensors (F32, no tokenizer) and OUT/golden_inputs.json (the
ids to probe with and the planted facts). Seeded and deterministic. The mechanism:

- the BOS embedding (id 1, always at token 0 of the probe) is ~one-hot on hidden dim BOS_DIM;
  every other token carries a constant QUERY_DIM component (and none on BOS_DIM);
- layer 1's MLP reads BOS_DIM: gate/up row J fire only at token 0 (QUERY_DIM drives gate J far
  negative elsewhere), so down_proj input channel J is large there, and the planted weight
  W_down[C, J] writes a massive value (~10^3) on down_proj channel C, hence on residual channel C
  from layer 1 on (the later blocks do not undo it);
- in layers 2 and 3, after RMSNorm the massive BOS residual is ~one-hot on C; the planted sink
  heads' W_k column C (head dim 3, the slowest RoPE pair, so position hardly matters) aligns the
  key of token 0 with the query W_q[:, QUERY_DIM] that every other token produces: those heads put
  most of their mass on token 0, and zeroing L1.down_proj:C removes it.

The generator checks in float64, and fails loudly otherwise: the massive rule (|a| > 100 and
> 1000 x median |a| of the (site, layer)) holds exactly at the planted entries, with margin,
and nowhere else at any of the 9 hook sites, the residual stream or the down_proj input; the
sink heads' first-token mass is > 0.6 clean and falls by > 0.3 when L1.down_proj:C is zeroed;
the perplexity is finite and sane; the weights are < 200 KB.
"""
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ref_model import Model, SITES, nll_of  # noqa: E402
from ref_search import write_safetensors  # noqa: E402

CFG = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 64, "hidden_size": 32,
    "intermediate_size": 64, "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2,
    "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "max_position_embeddings": 256, "tie_word_embeddings": False,
    "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32",
}
SEED = 2510
BOS = 1
BOS_DIM = 3          # hidden dim carried by the BOS embedding only
QUERY_DIM = 11       # hidden dim shared by every other token (drives the sink queries)
LAYER = 1            # the layer whose down_proj writes the massive channel
C = 21               # massive channel (down_proj output / residual)
J = 37               # down_proj input channel feeding it
SINK_HEADS = [(2, 0), (3, 2)]   # (layer, head)
HEAD_BETA = 1.0
VALUE_DIMS = [0, 1, 2, 4]   # sink heads' value dims (not the query/key one)
HEAD_DIM_USED = 3    # RoPE pair (3, 7) has inv_freq 1e-3: nearly position-free
ABS_THRESHOLD, RATIO = 100.0, 1000.0
IDS = [1, 17, 42, 9, 33, 5, 60, 21, 8, 50, 12, 3, 27, 44, 6, 38, 19, 55, 30, 14, 61, 7, 25, 48]
MASSIVE_SITES = ("residual", "down_proj", "down_proj_input")


def make_weights():
    g = torch.Generator().manual_seed(SEED)
    H, I, L, V = CFG["hidden_size"], CFG["intermediate_size"], CFG["num_hidden_layers"], CFG["vocab_size"]
    nh, nkv = CFG["num_attention_heads"], CFG["num_key_value_heads"]
    hd = H // nh

    def r(*shape, s=0.05):
        return torch.randn(*shape, generator=g, dtype=torch.float64) * s

    emb = r(V, H, s=0.3)
    emb[:, [BOS_DIM, C]] = 0.0
    emb[:, QUERY_DIM] = 1.5
    emb[BOS] = r(H, s=0.1)
    emb[BOS, BOS_DIM] = 5.0
    emb[BOS, QUERY_DIM] = 0.0
    # The head predicts the probe's next id from the current token's identity (its embedding without
    # the shared dims): a model with a low perplexity on the probe, for the ablations to break.
    head = r(V, H, s=0.15)
    ident = emb.clone()
    ident[:, [BOS_DIM, QUERY_DIM, C]] = 0.0
    for cur, nxt in zip(IDS[1:-1], IDS[2:]):
        head[nxt] = HEAD_BETA * ident[cur] / ident[cur].norm()
    w = {"model.embed_tokens.weight": emb, "model.norm.weight": 1.0 + r(H, s=0.05), "lm_head.weight": head}
    for l in range(L):
        p = "model.layers.%d." % l
        w[p + "input_layernorm.weight"] = 1.0 + r(H, s=0.05)
        w[p + "post_attention_layernorm.weight"] = 1.0 + r(H, s=0.05)
        w[p + "self_attn.q_proj.weight"] = r(nh * hd, H, s=0.1)
        w[p + "self_attn.k_proj.weight"] = r(nkv * hd, H, s=0.1)
        w[p + "self_attn.v_proj.weight"] = r(nkv * hd, H, s=0.1)
        w[p + "self_attn.o_proj.weight"] = r(H, nh * hd, s=0.05)
        w[p + "mlp.gate_proj.weight"] = r(I, H, s=0.1)
        w[p + "mlp.up_proj.weight"] = r(I, H, s=0.1)
        w[p + "mlp.down_proj.weight"] = r(H, I, s=0.05)
    p = "model.layers.%d." % LAYER
    gate, up, down = w[p + "mlp.gate_proj.weight"], w[p + "mlp.up_proj.weight"], w[p + "mlp.down_proj.weight"]
    gate[J] = r(H, s=0.02)
    gate[J, BOS_DIM] = 2.6
    gate[J, QUERY_DIM] = -3.0      # far negative on every non-BOS token: silu ~ 0 there
    up[J] = r(H, s=0.02)
    up[J, BOS_DIM] = 3.4
    down[:, J] = r(H, s=0.01)
    down[C, J] = 4.0
    # Channel C is also written (mildly) at every other token, so that where an ablation applies matters.
    down[C, :J] = r(J, s=0.1)
    down[C, J + 1:] = r(I - J - 1, s=0.1)
    for (l, h) in SINK_HEADS:
        p = "model.layers.%d." % l
        kv = h // (nh // nkv)
        sib = [x for x in range(nh) if x // (nh // nkv) == kv and x != h]
        w[p + "self_attn.q_proj.weight"][h * hd + HEAD_DIM_USED, QUERY_DIM] = 1.5
        w[p + "self_attn.k_proj.weight"][kv * hd + HEAD_DIM_USED, C] = 1.0
        # The sink is a no-op: token 0's value is ~0 (W_v ignores C), every other token's value is large
        # (read from QUERY_DIM) and the head writes it to the residual; with the sink gone it floods it.
        vrows = [kv * hd + d for d in VALUE_DIMS]
        w[p + "self_attn.v_proj.weight"][:, C] = 0.0
        w[p + "self_attn.v_proj.weight"][vrows, QUERY_DIM] = torch.tensor([1.0, -1.0, 1.0, -1.0], dtype=torch.float64)
        o = w[p + "self_attn.o_proj.weight"]
        o[:, [h * hd + d for d in VALUE_DIMS]] = r(H, len(VALUE_DIMS), s=0.3)
        for d in VALUE_DIMS:
            o[[C, QUERY_DIM], h * hd + d] = 0.0
        for x in sib:
            o[:, [x * hd + d for d in VALUE_DIMS]] = 0.0
    return {k: v.float().double() for k, v in w.items()}


def records(model, ids, mask=None):
    rec, extra = {}, {}
    t = torch.tensor([ids])
    logits = model.forward(t, record=rec, mask=mask, extra=extra)
    return logits, rec, extra


def site_tensor(rec, extra, site, l):
    if site in ("residual", "down_proj_input"):
        return extra[(l, site)][0]
    return rec[(l, site)][0]


def first_token_mass(extra, l, h):
    p = extra[(l, "attn")][0, h]
    return float(p[1:, 0].mean())


def verify(model, ids):
    L = model.L
    logits, rec, extra = records(model, ids)
    ppl = math.exp(float(nll_of(logits, torch.tensor([ids])).mean()))
    planted = {("residual", l, 0, C) for l in range(LAYER, L)}
    planted |= {("down_proj", LAYER, 0, C), ("down_proj_input", LAYER, 0, J)}
    found, worst_other = set(), (0.0, None)
    min_planted = (1e9, None)
    for site in MASSIVE_SITES + SITES:
        for l in range(L):
            a = site_tensor(rec, extra, site, l).abs()
            med = float(a.flatten().median()) if a.numel() % 2 else float(a.flatten().sort().values[
                a.numel() // 2 - 1: a.numel() // 2 + 1].mean())
            T, Ch = a.shape
            for t in range(T):
                for c in range(Ch):
                    v = float(a[t, c])
                    key = (site, l, t, c)
                    # how far inside the rule (>1 meets it): min of the two margins
                    m = min(v / ABS_THRESHOLD, v / (RATIO * med))
                    if key in planted:
                        min_planted = min(min_planted, (m, key))
                    elif m > worst_other[0]:
                        worst_other = (m, key)
                    if m > 1:
                        found.add(key)
    if found != planted:
        raise SystemExit("massive rule: found %s, planted %s" % (sorted(found), sorted(planted)))
    if min_planted[0] < 1.5 or worst_other[0] > 0.67:
        raise SystemExit("massive rule without margin: planted min %s, others max %s" % (min_planted, worst_other))
    mask = [(LAYER, "down_proj", C, None)]
    logits_m, _, extra_m = records(model, ids, mask)
    ppl_m = math.exp(float(nll_of(logits_m, torch.tensor([ids])).mean()))
    sinks = []
    for (l, h) in SINK_HEADS:
        clean, masked = first_token_mass(extra, l, h), first_token_mass(extra_m, l, h)
        sinks.append({"layer": l, "head": h, "clean": clean, "masked": masked})
        if not (clean > 0.6 and clean - masked > 0.3):
            raise SystemExit("sink head L%d.h%d: first-token mass clean %.4f masked %.4f" % (l, h, clean, masked))
    if not (math.isfinite(ppl) and 2.0 < ppl < 1000.0 and math.isfinite(ppl_m)):
        raise SystemExit("perplexity not sane: %r (masked %r)" % (ppl, ppl_m))
    # The ablation modes, where they apply and the trace's channel ablation must be told apart by
    # the perplexity at far more than the float32 tolerance (2e-4 relative).
    vals = rec[(LAYER, "down_proj")][0, :, C].numpy()
    modes = {"zero": {"mode": "zero"}, "mean": {"mode": "mean", "mean": float(np.mean(vals))},
             "scale:0.5": {"mode": "scale", "factor": 0.5}, "scale:3": {"mode": "scale", "factor": 3.0},
             "clamp:90": {"mode": "clamp", "lo": float(np.quantile(vals, 0.1)), "hi": float(np.quantile(vals, 0.9))},
             "clamp:60": {"mode": "clamp", "lo": float(np.quantile(vals, 0.4)), "hi": float(np.quantile(vals, 0.6))}}
    ablations = {}
    for name, mode in modes.items():
        for pos in (None, [0]):
            pp = math.exp(float(nll_of(model.forward(torch.tensor([ids]), mask=[(LAYER, "down_proj", C, pos, mode)]),
                                       torch.tensor([ids])).mean()))
            ablations[name + ("@0" if pos else "")] = pp
    vs = sorted(v for k, v in ablations.items() if k != "clamp:90") + [ppl]
    gaps = [abs(x - y) / y for i, x in enumerate(vs) for y in vs[i + 1:]]
    for name in modes:
        if name == "clamp:90":
            continue  # clips only two more tokens a little: told apart from clamp:60 and @0 below
        if abs(ablations[name] - ablations[name + "@0"]) / ablations[name] < 2e-3:
            raise SystemExit("ablation %s: all positions %.6g vs @0 %.6g too close" % (
                name, ablations[name], ablations[name + "@0"]))
    if min(gaps) < 1e-3:
        raise SystemExit("ablation perplexities too close: %s (clean %.6g)" % (ablations, ppl))
    if ppl_m < 3 * ppl:
        raise SystemExit("zeroing L%d.down_proj:%d hardly hurts: %.4g -> %.4g" % (LAYER, C, ppl, ppl_m))
    a = site_tensor(rec, extra, "down_proj", LAYER).abs()
    return {"ablation_ppl": ablations, "ppl": ppl, "ppl_masked": ppl_m, "sinks": sinks, "planted_margin": min_planted[0],
            "other_margin": worst_other[0], "other_worst": list(worst_other[1]),
            "down_proj_value": float(rec[(LAYER, "down_proj")][0, 0, C]),
            "down_proj_median_abs": float(a.flatten().sort().values[a.numel() // 2 - 1: a.numel() // 2 + 1].mean())}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.normpath(os.path.join(here, "..", "fixtures", "mechanism"))
    w = make_weights()
    model = Model(CFG, w)
    assert IDS[0] == BOS and BOS not in IDS[1:] and len(set(IDS)) == len(IDS)
    facts = verify(model, IDS)
    os.makedirs(out, exist_ok=True)
    json.dump(CFG, open(os.path.join(out, "config.json"), "w"), indent=1)
    write_safetensors(os.path.join(out, "model.safetensors"), w)
    size = os.path.getsize(os.path.join(out, "model.safetensors"))
    if size >= 200 * 1024:
        raise SystemExit("model.safetensors is %d bytes" % size)
    golden = {
        "ids": IDS, "bos_id": BOS, "seed": SEED,
        "planted": {"layer": LAYER, "down_proj_channel": C, "source_column": J, "token": 0,
                    "bos_dim": BOS_DIM, "query_dim": QUERY_DIM, "weight": w["model.layers.%d.mlp.down_proj.weight"
                                                                          % LAYER][C, J].item(),
                    "neuron": "L%d.down_proj:%d" % (LAYER, C),
                    "sink_heads": [{"layer": l, "head": h} for (l, h) in SINK_HEADS],
                    "massive": ([{"site": "residual", "layer": l, "token": 0, "channel": C}
                                 for l in range(LAYER, CFG["num_hidden_layers"])] +
                                [{"site": "down_proj", "layer": LAYER, "token": 0, "channel": C},
                                 {"site": "down_proj_input", "layer": LAYER, "token": 0, "channel": J}])},
        "reference": facts,
    }
    json.dump(golden, open(os.path.join(out, "golden_inputs.json"), "w"), indent=1)
    print("wrote %s (%d bytes): ppl %.3f (L%d.down_proj:%d zeroed: %.3f), down_proj value %.2f, median %.4g, "
          "planted margin %.2f, other margin %.3f %s, sinks %s" % (
              out, size, facts["ppl"], LAYER, C, facts["ppl_masked"], facts["down_proj_value"],
              facts["down_proj_median_abs"], facts["planted_margin"], facts["other_margin"], facts["other_worst"],
              [(s["layer"], s["head"], round(s["clean"], 3), round(s["masked"], 3)) for s in facts["sinks"]]))


if __name__ == "__main__":
    main()
