#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""`achilles-cli search --probes` against an independent recomputation (Python standard library).

  check_stability.py --cli build/release/app/achilles-cli --model tests/fixtures/search/planted

Runs a stability study over three id probes x two seeds, then checks, from nothing but the runs'
sets in the document: the channel counts, the intersection, the union size, every Jaccard index
and the consensus set; and that each run's set equals what a single `achilles-cli search` of that
probe and seed finds. Also checks bad --probes/--vary inputs exit non-zero naming the field.
"""
import argparse, json, os, subprocess, sys, tempfile

PROBES = [[1, 17, 42, 9, 33, 5, 60, 21, 8, 50, 12, 3], [1, 5, 9, 14, 22, 40, 41, 2, 7], [1, 60, 61, 62, 30, 31, 32, 33, 4, 4]]


def key(n):
    return (n["layer"], n["module"], n["channel"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--model", required=True)
    a = ap.parse_args()
    failed = 0

    def check(ok, what):
        nonlocal failed
        print(("ok   " if ok else "FAIL ") + what)
        failed += 0 if ok else 1

    common = ["--samples", "4", "--epsilon", "1", "--max-steps", "40"]
    with tempfile.TemporaryDirectory() as tmp:
        pf = os.path.join(tmp, "probes.jsonl")
        with open(pf, "w") as f:
            for i, ids in enumerate(PROBES):
                f.write(json.dumps({"name": "p%d" % i, "ids": ids}) + "\n")
        out = os.path.join(tmp, "s.json")
        p = subprocess.run([a.cli, "--quiet", "search", "--model", a.model, "--probes", pf, "--vary", "seed=1,2",
                            "--out", out] + common, capture_output=True, text=True, timeout=600)
        if p.returncode != 0:
            print("achilles-cli failed:", p.stderr[-800:])
            return 1
        d = json.load(open(out))
        check(d["schema"] == "achilles.stability/1", "schema")
        runs = d["runs"]
        check(len(runs) == 6, "3 probes x 2 seeds = 6 runs")
        sets = [set(key(n) for n in r["set"]) for r in runs]
        counts = {}
        for s in sets:
            for n in s:
                counts[n] = counts.get(n, 0) + 1
        got = {key(c): c["count"] for c in d["counts"]}
        check(got == counts, "channel counts")
        check([c["count"] for c in d["counts"]] == sorted([c["count"] for c in d["counts"]], reverse=True),
              "counts sorted by count")
        inter = set.intersection(*sets)
        check(set(key(n) for n in d["intersection"]) == inter, "intersection (%d)" % len(inter))
        check(d["union_size"] == len(set.union(*sets)), "union size")
        ok = True
        for i in range(len(sets)):
            for j in range(len(sets)):
                u = len(sets[i] | sets[j])
                want = 1.0 if u == 0 else len(sets[i] & sets[j]) / u
                ok = ok and abs(d["jaccard"][i][j] - want) < 1e-12
        check(ok, "Jaccard matrix")
        k = d["consensus"]["k"]
        check(k == 3, "majority consensus k = ceil(6 / 2)")
        check(set(key(n) for n in d["consensus"]["neurons"]) == {n for n, c in counts.items() if c >= k}, "consensus set")
        check((0, "down_proj", 5) in inter, "the planted channel is in every run's set")
        # Each run against a single search of the same probe and seed.
        for r, (pi, seed) in zip(runs, [(i, s) for i in range(3) for s in (1, 2)]):
            q = subprocess.run([a.cli, "--json", "--quiet", "search", "--model", a.model, "--ids",
                                ",".join(map(str, PROBES[pi])), "--seed", str(seed)] + common,
                               capture_output=True, text=True, timeout=600)
            one = json.loads(q.stdout)
            check([key(n) for n in one["faithful"]["neurons"]] == [key(n) for n in r["set"]] and
                  r["label"] == "p%d seed=%d" % (pi, seed), "run %s equals a single search" % r["label"])
        # Bad inputs: exit non-zero, naming the field.
        bad = os.path.join(tmp, "bad.jsonl")
        open(bad, "w").write('{"name": "x", "ids": [1, 2]}\n{"name": "y"}\n')
        for args, word in ((["--probes", bad], "bad.jsonl:2"), (["--probes", pf, "--vary", "seed"], "--vary"),
                           (["--probes", pf, "--vary", "alpha=-3"], "alpha"),
                           (["--probes", pf, "--vary", "nonsense=1"], "nonsense"),
                           (["--probes", os.path.join(tmp, "none.jsonl")], "none.jsonl"),
                           (["--ids", "1,2,3", "--vary", "seed=1,2"], "--probes")):
            q = subprocess.run([a.cli, "--quiet", "search", "--model", a.model] + args, capture_output=True,
                               text=True, timeout=120)
            check(q.returncode != 0 and word in q.stderr, "refused: %s (%s)" % (" ".join(args[-2:]), q.stderr.strip()[:90]))
    print("%d failed" % failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
