#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""--noise-rng torch against PyTorch itself.

  check_noise_torch.py --cli build/release/app/achilles-cli --model tests/fixtures/search/plain

Runs `achilles-cli search --noise-rng torch --dump-noise` and compares the dumped noise with
torch.manual_seed(seed) followed by one torch.randn(1, T, D) per sample on the CPU, drawn here by
the torch of this python. Prints both versions and whether the numbers agree. Fails only when they
differ although the torch release lines (major.minor) are the same; otherwise reports the finding.
Also checks that the search with --noise on the dump gives the same result JSON as the run with
--noise-rng torch (the file path aside).
"""
import argparse, json, os, subprocess, sys, tempfile

import numpy as np
import torch


def major_minor(v):
    return ".".join(v.split("+")[0].split(".")[:2])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--model", required=True)
    a = ap.parse_args()
    ids = "1,17,42,9,33,5,60,21,8,50,12,3"
    K, seed = 6, 1234
    with tempfile.TemporaryDirectory() as tmp:
        dump = os.path.join(tmp, "noise.npy")
        common = ["search", "--model", a.model, "--ids", ids, "--samples", str(K), "--seed", str(seed),
                  "--max-steps", "3", "--quiet"]
        r1 = os.path.join(tmp, "r1.json")
        r2 = os.path.join(tmp, "r2.json")
        p = subprocess.run([a.cli] + common + ["--noise-rng", "torch", "--dump-noise", dump, "--out", r1],
                           capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            print("achilles-cli failed:", p.stderr[-600:])
            return 1
        ours = np.load(dump)
        T, D = ours.shape[1], ours.shape[2]
        torch.manual_seed(seed)
        ref = np.stack([torch.randn(1, T, D)[0].numpy() for _ in range(K)])
        res = json.load(open(r1))
        lib = res.get("libtorch_version", "?")
        same_line = major_minor(lib) == major_minor(torch.__version__)
        equal = ours.shape == ref.shape and ours.dtype == np.float32 and np.array_equal(ours, ref)
        print(f"libtorch {lib} (achilles-cli) vs torch {torch.__version__} (python): noise "
              f"{'IDENTICAL' if equal else 'DIFFERENT'} [{K}, {T}, {D}] float32"
              + ("" if equal else f", max |diff| {float(np.abs(ours - ref).max()) if ours.shape == ref.shape else 'shape'}"))
        failed = 0
        if not equal and same_line:
            print("FAIL: the same torch release line must draw the same numbers")
            failed += 1
        p = subprocess.run([a.cli] + common + ["--noise", dump, "--out", r2], capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            print("achilles-cli --noise failed:", p.stderr[-600:])
            return 1
        b = json.load(open(r2))
        same = res["ranking"] == b["ranking"] and res["curve"] == b["curve"]
        print(f"--noise on the dump reproduces the --noise-rng torch run: {'yes' if same else 'NO'}")
        failed += 0 if same else 1
        return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
