# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures and goldens made by Hugging Face transformers itself (run in a venv with torch + transformers).

  .venv/bin/python tests/reference/make_hf_fixtures.py [OUT_DIR]      (default: tests/fixtures/hf)
  .venv/bin/python tests/reference/make_hf_fixtures.py --check DIR    (regenerate into DIR and compare
                                                                       with the committed fixtures)

For every family a tiny model is built with transformers' own config and model classes, its weights
re-drawn from a seeded generator (HF's 0.02-std init gives near-uniform logits), and written with
`save_pretrained` (model.safetensors, config.json, generation_config.json): transformers writes the
files, not this project. golden.json then holds what the HF model computes in float64 from those
exact float32 weights:
  ids [2,T]; logits [2,T,V]; nll and ppl of sequence 0 ("the paper's protocol": mean next-token CE);
  the output of every hooked module of sequence 0, captured with PyTorch forward hooks on the HF
  modules the paper's code hooks (q/k/v/o_proj, gate_proj, up_proj, mlp.act_fn, down_proj,
  post_attention_layernorm) plus the input of down_proj (a forward pre-hook), for every layer;
  masked nll under an all-position mask and a position-limited mask (forward hooks zeroing output
  channels, as the paper's code does); greedy continuations, plain and masked;
  float32_logits_rel_err: how far HF's own float32 forward is from its float64 one (the floor any
  float32 implementation can reach).
Phi-3 fuses q/k/v and gate/up: the hooked outputs are the slices of the fused modules' outputs.
"""
import argparse
import json
import math
import os
import shutil
import sys

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

try:
    import torch
    import transformers
    from transformers.utils import logging as hf_logging
except ImportError as e:  # the CTest wrapper treats 77 as "skipped"
    print("skipped: this python has no torch/transformers (%s)" % e)
    sys.exit(77)
hf_logging.set_verbosity_error()
hf_logging.disable_progress_bar()
from transformers import (AutoModelForCausalLM, Gemma2Config, GemmaConfig, LlamaConfig, MistralConfig, Phi3Config,
                          Qwen2Config, Qwen3Config)

torch.set_grad_enabled(False)

BASE = dict(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, rms_norm_eps=1e-6, max_position_embeddings=64, bos_token_id=1, eos_token_id=2,
            pad_token_id=0)

# name, config class, config overrides, weight std
FAMILIES = [
    ("llama3", LlamaConfig, dict(head_dim=12, tie_word_embeddings=False, attention_bias=True, mlp_bias=True,
                                 rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                                                   high_freq_factor=4.0, original_max_position_embeddings=16)), 0.25),
    ("llama_tied", LlamaConfig, dict(tie_word_embeddings=True), 0.25),
    ("mistral", MistralConfig, dict(sliding_window=5, tie_word_embeddings=False), 0.25),
    ("qwen2", Qwen2Config, dict(tie_word_embeddings=False, use_sliding_window=True, sliding_window=5,
                                max_window_layers=1, eos_token_id=[2, 3]), 0.25),
    ("qwen3", Qwen3Config, dict(head_dim=16, tie_word_embeddings=True, attention_bias=False), 0.2),
    ("gemma", GemmaConfig, dict(head_dim=16, num_key_value_heads=1, hidden_act="gelu_pytorch_tanh",
                                hidden_activation="gelu_pytorch_tanh", tie_word_embeddings=True), 0.12),
    ("gemma2", Gemma2Config, dict(head_dim=8, hidden_activation="gelu_pytorch_tanh", query_pre_attn_scalar=24,
                                  attn_logit_softcapping=4.0, final_logit_softcapping=3.0, sliding_window=4,
                                  tie_word_embeddings=True), 0.2),
    ("phi3", Phi3Config, dict(num_attention_heads=2, num_key_value_heads=1, partial_rotary_factor=0.5,
                              original_max_position_embeddings=8, tie_word_embeddings=False, hidden_act="silu",
                              rope_scaling=dict(rope_type="longrope", short_factor=[1.0, 1.3, 1.9, 2.6],
                                                long_factor=[1.5, 3.0, 7.0, 15.0])), 0.25),
    # DeepSeek-R1-Distill shapes: Qwen2.5-Math based (bias, no sliding, untied, large theta) and
    # Llama-3.1-8B based (llama3 rope, theta 5e5, untied, no bias).
    ("deepseek_r1_qwen", Qwen2Config, dict(tie_word_embeddings=False, use_sliding_window=False, sliding_window=4096,
                                           max_window_layers=2, rope_theta=10000.0, eos_token_id=2), 0.25),
    ("deepseek_r1_llama", LlamaConfig, dict(tie_word_embeddings=False, rope_theta=500000.0,
                                            rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                                                              high_freq_factor=4.0,
                                                              original_max_position_embeddings=8)), 0.25),
]
SEQ = 12
MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "act_fn", "down_proj",
           "post_attention_layernorm"]


def build(name, cls, over, seed):
    kw = dict(BASE)
    kw.update(over)
    rope = kw.pop("rope_scaling", None)
    theta = kw.pop("rope_theta", 10000.0)
    cfg = cls(**kw)
    # transformers 5 keeps rope settings in rope_parameters (rope_type, rope_theta, scaling fields).
    rp = dict(rope) if rope else {"rope_type": "default"}
    rp["rope_theta"] = theta
    cfg.rope_parameters = rp
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager", dtype=torch.float32)
    return model


def redraw(model, seed, wstd, gemma_norm):
    g = torch.Generator().manual_seed(seed)
    for pname, p in sorted(model.named_parameters()):
        if p.dim() == 1 and "norm" in pname:
            v = 0.1 * torch.randn(p.shape, generator=g, dtype=torch.float64)
            p.copy_(v if gemma_norm else 1.0 + v)
        elif p.dim() == 1:
            p.copy_(0.1 * torch.randn(p.shape, generator=g, dtype=torch.float64))
        else:
            p.copy_(wstd * torch.randn(p.shape, generator=g, dtype=torch.float64))


def fused_split(model):
    """Phi-3: (module name, [(our name, start, width)]) for the fused projections."""
    c = model.config
    hd = c.hidden_size // c.num_attention_heads
    q, kv = c.num_attention_heads * hd, c.num_key_value_heads * hd
    i = c.intermediate_size
    return {"self_attn.qkv_proj": [("q_proj", 0, q), ("k_proj", q, kv), ("v_proj", q + kv, kv)],
            "mlp.gate_up_proj": [("gate_proj", 0, i), ("up_proj", i, i)]}


def site_modules(model, layer):
    """Our module name -> (HF submodule path under the layer, slice or None)."""
    lay = model.model.layers[layer]
    out = {}
    if hasattr(lay.self_attn, "qkv_proj"):
        for path, parts in fused_split(model).items():
            for ours, start, width in parts:
                out[ours] = (path, (start, width))
    else:
        for m in ("q_proj", "k_proj", "v_proj"):
            out[m] = ("self_attn." + m, None)
        for m in ("gate_proj", "up_proj"):
            out[m] = ("mlp." + m, None)
    out["o_proj"] = ("self_attn.o_proj", None)
    out["act_fn"] = ("mlp.act_fn" if hasattr(lay.mlp, "act_fn") else "mlp.activation_fn", None)
    out["down_proj"] = ("mlp.down_proj", None)
    out["post_attention_layernorm"] = ("post_attention_layernorm", None)
    return out


def submodule(model, layer, path):
    m = model.model.layers[layer]
    for part in path.split("."):
        m = getattr(m, part)
    return m


def run(model, ids, record=None, mask=()):
    """Forward with hooks. record: dict filled with (layer, our module) -> [B,T,C] outputs, plus
    (layer, 'down_proj_input'). mask: (layer, module, channel, positions or None) zeroed in the
    module's output, as the paper's masking hooks do."""
    handles = []
    L = model.config.num_hidden_layers
    for layer in range(L):
        sites = site_modules(model, layer)
        by_path = {}
        for ours, (path, sl) in sites.items():
            by_path.setdefault(path, []).append((ours, sl))
        for path, entries in by_path.items():
            def hook(mod, inp, out, layer=layer, entries=entries):
                out = out.clone()
                for ours, sl in entries:
                    s0, w = sl if sl else (0, out.shape[-1])
                    for (ml, mm, ch, pos) in mask:
                        if ml == layer and mm == ours:
                            if pos is None:
                                out[..., s0 + ch] = 0
                            else:
                                for p in pos:
                                    out[:, p, s0 + ch] = 0
                    if record is not None:
                        record[(layer, ours)] = out[..., s0:s0 + w].clone()
                return out
            handles.append(submodule(model, layer, path).register_forward_hook(hook))
        if record is not None:
            def pre(mod, args, layer=layer):
                record[(layer, "down_proj_input")] = args[0].clone()
            handles.append(submodule(model, layer, "mlp.down_proj").register_forward_pre_hook(pre))
    try:
        return model(input_ids=ids, use_cache=False).logits
    finally:
        for h in handles:
            h.remove()


def nll_of(logits, ids):
    lg = logits[0, :-1].double()
    return torch.nn.functional.cross_entropy(lg, ids[0, 1:], reduction="none")


def greedy(model, prompt, n, mask=()):
    ids = list(prompt)
    for _ in range(n):
        lg = run(model, torch.tensor([ids]), mask=mask)
        ids.append(int(torch.argmax(lg[0, -1])))
    return ids[len(prompt):]


def r7(x):
    """Nested lists of floats at 8 significant digits (well inside the 1e-4 tolerance)."""
    if isinstance(x, float):
        return float("%.8g" % x)
    if isinstance(x, list):
        return [r7(v) for v in x]
    return x


def make_one(out_root, idx, name, cls, over, wstd):
    d = os.path.join(out_root, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    model = build(name, cls, over, 100 + idx)
    gemma_norm = name.startswith("gemma")
    redraw(model, 2000 + idx, wstd, gemma_norm)
    model.eval()
    model.save_pretrained(d)
    # The float64 golden model: the same float32 weights, read back from the files HF wrote.
    m64 = AutoModelForCausalLM.from_pretrained(d, attn_implementation="eager", dtype=torch.float64).eval()
    m32 = AutoModelForCausalLM.from_pretrained(d, attn_implementation="eager", dtype=torch.float32).eval()
    V = model.config.vocab_size
    H = model.config.hidden_size
    g = torch.Generator().manual_seed(7 + idx)
    ids = torch.randint(3, V, (2, SEQ), generator=g)
    ids[:, 0] = model.config.bos_token_id
    rec = {}
    logits = run(m64, ids, record=rec)
    logits32 = run(m32, ids)
    f32_err = float((logits32.double() - logits).abs().max() / logits.abs().max())
    nll = nll_of(logits[:1], ids[:1])
    mask = [(0, "down_proj", 3, None), (1, "act_fn", 5, None), (0, "q_proj", 7, None), (1, "down_proj", 11, None)]
    mnll = nll_of(run(m64, ids[:1], mask=mask), ids[:1])
    pmask = [(1, "o_proj", 2, [3, 5]), (0, "post_attention_layernorm", H - 1, [0, 4, 9])]
    pnll = nll_of(run(m64, ids[:1], mask=pmask), ids[:1])
    prompt = ids[0, :4].tolist()
    sites = []
    for layer in range(model.config.num_hidden_layers):
        hf = site_modules(m64, layer)
        for mod in MODULES + ["down_proj_input"]:
            path = hf[mod][0] if mod in hf else "mlp.down_proj (input)"
            sites.append({"layer": layer, "module": mod, "hf_module": f"model.layers.{layer}.{path}",
                          "values": r7(rec[(layer, mod)][0].tolist())})
    golden = {
        "fixture": name, "dtype": "F32", "generator": "tests/reference/make_hf_fixtures.py",
        "transformers": transformers.__version__, "torch": torch.__version__,
        "hf_class": type(m64).__name__, "float32_logits_rel_err": f32_err,
        "ids": ids.tolist(), "logits": r7(logits.tolist()),
        "nll": r7(nll.tolist()), "ppl": math.exp(float(nll.mean())),
        "sites": sites,
        "mask": [{"layer": l, "module": m, "channel": c} for (l, m, c, _) in mask],
        "mask_nll": r7(mnll.tolist()), "mask_ppl": math.exp(float(mnll.mean())),
        "pos_mask": [{"layer": l, "module": m, "channel": c, "positions": p} for (l, m, c, p) in pmask],
        "pos_mask_nll": r7(pnll.tolist()), "pos_mask_ppl": math.exp(float(pnll.mean())),
        "greedy_prompt": prompt, "greedy_tokens": greedy(m64, prompt, 8),
        "greedy_mask_tokens": greedy(m64, prompt, 6, mask),
    }
    with open(os.path.join(d, "golden.json"), "w") as fh:
        json.dump(golden, fh, separators=(",", ":"))
        fh.write("\n")
    print("%-18s %-20s ppl %10.6f  masked %10.6f  f32-vs-f64 %.2e" % (name, golden["hf_class"], golden["ppl"],
                                                                       golden["mask_ppl"], f32_err))
    return golden


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out", nargs="?", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                                            "fixtures", "hf"))
    ap.add_argument("--check", metavar="DIR", help="regenerate into DIR and compare with OUT")
    a = ap.parse_args()
    target = a.check or a.out
    os.makedirs(target, exist_ok=True)
    for i, (name, cls, over, wstd) in enumerate(FAMILIES):
        make_one(target, i, name, cls, over, wstd)
    if not a.check:
        return 0
    bad = 0
    for name, *_ in FAMILIES:
        x, y = os.path.join(a.out, name), os.path.join(a.check, name)
        if open(os.path.join(x, "model.safetensors"), "rb").read() != open(os.path.join(y, "model.safetensors"), "rb").read():
            print("DIFFERS", name, "model.safetensors")
            bad += 1
        cx, cy = (json.load(open(os.path.join(p, "config.json"))) for p in (x, y))
        cx.pop("transformers_version", None)
        cy.pop("transformers_version", None)
        if cx != cy:
            print("DIFFERS", name, "config.json")
            bad += 1
        gx = json.load(open(os.path.join(a.out, name, "golden.json")))
        gy = json.load(open(os.path.join(a.check, name, "golden.json")))
        worst = max(abs(p - q) / max(abs(q), 1e-6) for p, q in zip(gx["nll"], gy["nll"]))
        if worst > 1e-6 or gx["greedy_tokens"] != gy["greedy_tokens"]:
            print("DIFFERS", name, "golden nll/greedy (max rel %.2e)" % worst)
            bad += 1
    print("%d passed, %d failed" % (len(FAMILIES) - min(bad, len(FAMILIES)), min(bad, len(FAMILIES))))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
