#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""`achilles-cli compare` against an independent recomputation (Python standard library).

  check_compare.py --cli build/release/app/achilles-cli --fixtures tests/fixtures/search

Runs searches on the plain fixture with two seeds and on the planted fixture, then compares pairs
and recomputes, from the two result documents alone: shared / only-A / only-B channels, the
Jaccard index overall, per module and per layer, the option differences and the model check.
"""
import argparse, json, os, subprocess, sys, tempfile

SITES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "act_fn", "down_proj",
         "post_attention_layernorm"]
IDS = "1,17,42,9,33,5,60,21,8,50,12,3"


def key(n):
    return (n["layer"], n["module"], n["channel"])


def jac(a, b):
    u = len(a | b)
    return None if u == 0 else len(a & b) / u


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--fixtures", required=True)
    a = ap.parse_args()
    failed = 0

    def check(ok, what):
        nonlocal failed
        print(("ok   " if ok else "FAIL ") + what)
        failed += 0 if ok else 1

    with tempfile.TemporaryDirectory() as tmp:
        runs = {}
        for name, model, seed in (("plain1", "plain", 1), ("plain2", "plain", 2), ("planted", "planted", 1)):
            out = os.path.join(tmp, name + ".json")
            p = subprocess.run([a.cli, "--quiet", "search", "--model", os.path.join(a.fixtures, model), "--ids", IDS,
                                "--samples", "4", "--seed", str(seed), "--epsilon", "100", "--max-steps", "25",
                                "--out", out], capture_output=True, text=True, timeout=600)
            if p.returncode != 0:
                print("search failed:", p.stderr[-600:])
                return 1
            runs[name] = out
        for x, y in (("plain1", "plain2"), ("plain1", "planted")):
            ra, rb = json.load(open(runs[x])), json.load(open(runs[y]))
            p = subprocess.run([a.cli, "--json", "compare", runs[x], runs[y]], capture_output=True, text=True, timeout=120)
            if p.returncode != 0:
                print("compare failed:", p.stderr[-600:])
                return 1
            c = json.loads(p.stdout)
            A = set(key(n) for n in ra["faithful"]["neurons"])
            B = set(key(n) for n in rb["faithful"]["neurons"])
            tag = "%s vs %s" % (x, y)
            check(set(key(n) for n in c["shared"]) == A & B, tag + ": shared (%d)" % len(A & B))
            check(set(key(n) for n in c["only_a"]) == A - B and set(key(n) for n in c["only_b"]) == B - A, tag + ": only A / only B")
            check(c["all"]["a"] == len(A) and c["all"]["b"] == len(B) and c["all"]["jaccard"] == jac(A, B), tag + ": Jaccard overall")
            ok = [m["label"] for m in c["by_module"]] == SITES
            for m in c["by_module"]:
                am = {n for n in A if n[1] == m["label"]}
                bm = {n for n in B if n[1] == m["label"]}
                ok = ok and m["shared"] == len(am & bm) and m["jaccard"] == jac(am, bm)
            check(ok, tag + ": Jaccard per module")
            layers = sorted({n[0] for n in A | B})
            ok = [l["label"] for l in c["by_layer"]] == ["L%d" % l for l in layers]
            for l, entry in zip(layers, c["by_layer"]):
                al = {n for n in A if n[0] == l}
                bl = {n for n in B if n[0] == l}
                ok = ok and entry["jaccard"] == jac(al, bl)
            check(ok, tag + ": Jaccard per layer")
            diffs = sorted(d.split(":")[0] for d in c["option_differences"])
            want = sorted(k for k in ra["options"] if ra["options"][k] != rb["options"][k])
            check(diffs == want, tag + ": option differences %s" % diffs)
            check(c["same_model"] == (ra["model"]["header_hash"] == rb["model"]["header_hash"] and
                                      ra["model"]["config_hash"] == rb["model"]["config_hash"]), tag + ": same model")
            check([p["unique_channels"] for p in c["curve_a"]] == [p["unique_channels"] for p in ra["curve"]], tag + ": curve A")
        # Bad inputs.
        bad = os.path.join(tmp, "bad.json")
        open(bad, "w").write('{"schema": "achilles.result/2", "faithful": {"neurons": [{"layer": 0, "module": "nope", "channel": 1}]}}')
        for args, word in (([runs["plain1"], bad], "bad.json"), ([runs["plain1"], os.path.join(tmp, "none.json")], "none.json"),
                           ([runs["plain1"], runs["plain2"], "--set", "minimal"], "minimal")):
            q = subprocess.run([a.cli, "compare"] + args, capture_output=True, text=True, timeout=60)
            check(q.returncode != 0 and word in q.stderr, "refused: %s (%s)" % (word, q.stderr.strip()[:100]))
    print("%d failed" % failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
