#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Parity of achilles-cli against the float64 reference goldens, with the Python standard library only.

This is the test that runs where Qt is absent (GPU machines with a PyTorch 2.x CUDA libtorch):
  check_cli_parity.py --cli build/cuda/app/achilles-cli --fixtures tests/fixtures --device cuda
For each fixture it checks per-token NLL (plain, channel mask, position mask) and greedy tokens
(plain and masked) against golden.json written by tests/reference/make_fixtures.py.
Prints one line per check and a closing "N passed, N failed" line; exits non-zero on failure.
"""
import argparse, json, os, subprocess, sys

TOL = {"F32": 1e-4, "BF16": 2e-2, "F16": 5e-3}   # by checkpoint dtype (CPU computes in f32)
HALF_TOL = {"bf16": 5e-2, "f16": 1e-2}            # half-precision compute asked for with --dtype


def run(cli, args):
    p = subprocess.run([cli, "--json", "--quiet"] + args, capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise RuntimeError(f"achilles-cli {' '.join(args)} exited {p.returncode}: {p.stderr.strip()[-400:]}")
    return json.loads(p.stdout)


def spec(entries):
    parts = []
    for e in entries:
        s = f"L{e['layer']}.{e['module']}:{e['channel']}"
        if e.get("positions"):
            s += "@" + ";".join(str(p) for p in e["positions"])
        parts.append(s)
    return ",".join(parts)


def rel_err(a, b):
    worst = 0.0
    for x, y in zip(a, b):
        worst = max(worst, abs(x - y) / max(abs(y), 1e-6))
    return worst


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--fixtures", required=True)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="auto")
    a = ap.parse_args()
    passed = failed = 0
    for name in sorted(os.listdir(a.fixtures)):
        d = os.path.join(a.fixtures, name)
        gpath = os.path.join(d, "golden.json")
        if not os.path.isfile(gpath):
            continue
        g = json.load(open(gpath))
        if "nll" not in g:
            continue
        tol = TOL.get(g.get("dtype", "F32"), 1e-4)
        # Half-precision compute on request: its rounding, and no exact greedy tokens.
        half = a.dtype in ("bf16", "f16")
        if half:
            tol = max(tol, HALF_TOL[a.dtype])
        # On CUDA with auto dtype a half-precision checkpoint computes in half: allow its rounding.
        ids = ",".join(str(i) for i in g["ids"][0])
        common = ["--model", d, "--device", a.device, "--dtype", a.dtype]
        checks = [("nll", []), ("mask_nll", ["--mask", spec(g["mask"])]), ("pos_mask_nll", ["--mask", spec(g["pos_mask"])])]
        for key, extra in checks:
            if key not in g:
                continue
            try:
                out = run(a.cli, ["ppl"] + common + ["--ids", ids] + extra)
                err = rel_err(out["nll"], g[key])
                ok = len(out["nll"]) == len(g[key]) and err <= tol
                detail = f"max rel err {err:.2e} (tol {tol:g})"
            except Exception as e:  # noqa: BLE001 - report every failure, keep going
                ok, detail = False, str(e)
            print(f"{'PASS' if ok else 'FAIL'} {name} {key}: {detail}")
            passed, failed = passed + ok, failed + (not ok)
        if g.get("dtype", "F32") == "F32" and not half and "greedy_tokens" in g:
            prompt = ",".join(str(i) for i in g["greedy_prompt"])
            for key, extra in (("greedy_tokens", []), ("greedy_mask_tokens", ["--mask", spec(g["mask"])])):
                if key not in g:
                    continue
                try:
                    out = run(a.cli, ["generate"] + common + ["--ids", prompt, "--greedy", "--max-new",
                                                               str(len(g[key])), "--no-stop"] + extra)
                    ok = out["ids"] == g[key]
                    detail = f"{out['ids']} vs {g[key]}"
                except Exception as e:  # noqa: BLE001
                    ok, detail = False, str(e)
                print(f"{'PASS' if ok else 'FAIL'} {name} {key}: {detail}")
                passed, failed = passed + ok, failed + (not ok)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
