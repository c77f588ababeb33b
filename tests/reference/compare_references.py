# SPDX-License-Identifier: GPL-3.0-or-later
"""Second opinion on the Hugging Face goldens: runs the project's own float64 re-implementation
(ref_model.py) on the HF-written fixtures (tests/fixtures/hf) and compares its logits and NLL with
what transformers computed. Run with a python that has torch and safetensors (.venv/bin/python).
Prints one line per fixture and "N passed, N failed"; exit 77 (skipped) without torch/safetensors."""
import json
import math
import os
import sys

try:
    import torch
    from safetensors.torch import load_file
except ImportError as e:
    print("skipped: %s" % e)
    sys.exit(77)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ref_model import Model, nll_of  # noqa: E402

torch.set_grad_enabled(False)
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "hf")


def legacy_config(cfg):
    """transformers 5 writes rope settings as rope_parameters; ref_model reads the 4.x keys."""
    c = dict(cfg)
    rp = c.pop("rope_parameters", None) or {}
    c["rope_theta"] = rp.get("rope_theta", c.get("rope_theta", 10000.0))
    if rp.get("rope_type", "default") != "default":
        c["rope_scaling"] = {k: v for k, v in rp.items() if k != "rope_theta"}
    return c


def main():
    passed = failed = 0
    for name in sorted(os.listdir(ROOT)):
        d = os.path.join(ROOT, name)
        g = json.load(open(os.path.join(d, "golden.json")))
        cfg = legacy_config(json.load(open(os.path.join(d, "config.json"))))
        w = {k: v.to(torch.float64) for k, v in load_file(os.path.join(d, "model.safetensors")).items()}
        m = Model(cfg, w)
        ids = torch.tensor(g["ids"])
        logits = m.forward(ids)
        ref = torch.tensor(g["logits"], dtype=torch.float64)
        err = float((logits - ref).abs().max() / ref.abs().max())
        nll = nll_of(logits[:1], ids[:1])
        ppl_err = abs(math.exp(float(nll.mean())) - g["ppl"]) / g["ppl"]
        ok = err <= 1e-6 and ppl_err <= 1e-6
        print("%s %-18s logits max rel diff %.2e, ppl rel diff %.2e" % ("PASS" if ok else "FAIL", name, err, ppl_err))
        passed, failed = passed + ok, failed + (not ok)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
