#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""The mechanism analyses of achilles-cli (issue 9) against an independent float64 recomputation.

  check_mechanism.py --cli build/release/app/achilles-cli --model tests/fixtures/mechanism
                     [--plain tests/fixtures/search/plain]

Runs `massive`, `sinks`, `trace`, `lens` and `ppl` (every ablation mode, with and without positions,
statistics given or calibrated elsewhere, weight edits) on the planted fixture of
make_mechanism_fixture.py, and compares every number with ref_model.py in float64 (torch 1.13,
run with /usr/bin/python3). The C++ side computes in float32: probabilities and masses agree to
abs 2e-4, perplexities to rel 2e-4, activations to 1e-4 x max(1, |a|); ids, indices and ranks
exactly, except where the float64 reference itself has a near-tie the float32 gap could flip
(then any of the tied answers is accepted, nothing else).
Prints one line per check and a summary; exits 1 on any failure, 77 (skip) when the CLI has none
of the mechanism commands yet. Once it has any of them, a missing command or field is a failure.
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import traceback

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ref_model import Model, nll_of  # noqa: E402
from ref_search import read_safetensors  # noqa: E402

torch.set_num_threads(1)
SITE_ORDER = ["residual", "down_proj", "down_proj_input"]
MATRIX = {"q_proj": "self_attn.q_proj", "k_proj": "self_attn.k_proj", "v_proj": "self_attn.v_proj",
          "o_proj": "self_attn.o_proj", "gate_proj": "mlp.gate_proj", "up_proj": "mlp.up_proj",
          "down_proj": "mlp.down_proj"}
P_TOL = 2e-4       # probabilities, attention masses (abs)
PPL_TOL = 2e-4     # perplexities (rel)
LOGIT_TIE = 1e-4   # logits closer than this may swap order in float32


def act_tol(ref):
    return 1e-4 * max(1.0, abs(ref))


def close_act(a, b):
    return abs(a - b) <= act_tol(b)


def close_p(a, b):
    return abs(a - b) <= P_TOL


def close_rel(a, b, tol=PPL_TOL):
    return abs(a - b) <= tol * abs(b)


class Failure(Exception):
    pass


class Checker:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, what, detail=""):
        print(("ok   " if ok else "FAIL ") + what + ("" if ok or not detail else ": " + detail))
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        return ok

    def section(self, name, fn):
        try:
            fn()
        except Exception as e:  # a crash, a missing field, a failed command: always a failure
            self.check(False, name, "%s: %s" % (type(e).__name__, str(e)[-700:]))
            if os.environ.get("ACH_CHECK_TRACEBACK"):
                traceback.print_exc()


# ---------------------------------------------------------------- reference
class Ref:
    def __init__(self, folder):
        self.cfg = json.load(open(os.path.join(folder, "config.json")))
        self.w = read_safetensors(os.path.join(folder, "model.safetensors"))
        self.model = Model(self.cfg, self.w)
        self.L = self.model.L
        self.nh = self.model.nh
        self._cache = {}

    def with_edit(self, edit):
        """edit: (layer, matrix, row, col, factor) -> a Model with that one weight scaled."""
        l, m, r, c, f = edit
        name = "model.layers.%d.%s.weight" % (l, MATRIX[m])
        w = dict(self.w)
        w[name] = self.w[name].clone()
        w[name][r, c] = w[name][r, c] * f
        return Model(self.cfg, w)

    def run(self, ids, mask=None, edit=None):
        """-> dict(logits [T,V], rec {(l, site): [T,C]}, extra {(l, what): ...}) in float64."""
        key = (tuple(ids), repr(mask), repr(edit))
        if key in self._cache:
            return self._cache[key]
        model = self.with_edit(edit) if edit else self.model
        rec, extra = {}, {}
        t = torch.tensor([ids])
        logits = model.forward(t, record=rec, mask=mask, extra=extra)
        out = {"logits": logits[0], "nll": nll_of(logits, t), "model": model,
               "rec": {k: v[0] for k, v in rec.items()},
               "extra": {k: v[0] for k, v in extra.items()}}
        out["ppl"] = math.exp(float(out["nll"].mean()))
        self._cache[key] = out
        return out

    def site(self, run, site, l):
        if site in ("residual", "down_proj_input"):
            return run["extra"][(l, site)]
        return run["rec"][(l, site)]


def resolve(ref, entries, ids, calib_ids=None):
    """Mask entries (dicts) -> ref_model mask tuples, mean/clamp statistics from the clean run over the
    calibration ids (default: the scored ids), unless given."""
    out = []
    for e in entries:
        mode = {"mode": e.get("mode", "zero")}
        if mode["mode"] == "scale":
            mode["factor"] = e["factor"]
        if mode["mode"] in ("mean", "clamp"):
            if "mean" in e:
                mode["mean"] = e["mean"]
            elif "lo" in e:
                mode["lo"], mode["hi"] = e["lo"], e["hi"]
            else:
                # calib_ids: one sample, or a list of samples pooled (each its own clean forward)
                samples = calib_ids or ids
                if not isinstance(samples[0], list):
                    samples = [samples]
                vals = np.concatenate([ref.run(c)["rec"][(e["layer"], e["module"])][:, e["channel"]].numpy()
                                       for c in samples])
                if mode["mode"] == "mean":
                    mode["mean"] = float(np.mean(vals))
                else:
                    P = e["percentile"]
                    mode["lo"] = float(np.quantile(vals, 1.0 - P / 100.0))
                    mode["hi"] = float(np.quantile(vals, P / 100.0))
        out.append((e["layer"], e["module"], e["channel"], e.get("positions"), mode))
    return out


def inline(entries):
    parts = []
    for e in entries:
        s = "L%d.%s:%d" % (e["layer"], e["module"], e["channel"])
        if e.get("positions"):
            s += "@" + ";".join(str(p) for p in e["positions"])
        m = e.get("mode")
        if m == "scale":
            s += "=scale:%g" % e["factor"]
        elif m == "clamp":
            s += "=clamp:%g" % e["percentile"]
        elif m in ("mean", "zero"):
            s += "=" + m
        parts.append(s)
    return ",".join(parts)


def median_abs(a):
    return float(np.median(np.abs(a.numpy().ravel())))


def ranked_ok(cli_items, ref_score, ref_sorted, tie):
    """cli_items: keys in the CLI's order; ref_score(key) -> reference score (higher first);
    ref_sorted: the reference's top scores in order. Each CLI item must score, in the reference,
    within `tie` of the reference's score at that rank (so it is exactly the reference's item unless
    the reference has a near-tie there), and no key may repeat."""
    if len(cli_items) != len(ref_sorted) or len(set(cli_items)) != len(cli_items):
        return False, "count %d vs %d (or repeated)" % (len(cli_items), len(ref_sorted))
    for i, (k, r) in enumerate(zip(cli_items, ref_sorted)):
        s = ref_score(k)
        if s is None or abs(s - r) > tie(r):
            return False, "rank %d: CLI %s (ref score %s) vs ref score %.9g" % (i, k, s, r)
    return True, ""


def rank_range(logits, true_id, tie=LOGIT_TIE):
    lt = float(logits[true_id])
    exact = 1 + int((logits > lt).sum())
    lo = 1 + int((logits > lt + tie).sum())
    hi = 1 + int(((logits > lt - tie) & (torch.arange(len(logits)) != true_id)).sum())
    return exact, lo, hi


# ---------------------------------------------------------------- CLI
class Cli:
    def __init__(self, path, tmp, device):
        self.path, self.tmp, self.device, self.n = path, tmp, device, 0

    def __call__(self, cmd, args, out=True):
        self.n += 1
        argv = [self.path, "--json", "--quiet", cmd] + args + ["--device", self.device]
        f = None
        if out:
            f = os.path.join(self.tmp, "%s-%d.json" % (cmd, self.n))
            argv += ["--out", f]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            raise Failure("achilles-cli %s exited %d: %s" % (" ".join(argv[1:]), p.returncode, p.stderr.strip()[-500:]))
        return json.load(open(f)) if out else json.loads(p.stdout)


# ---------------------------------------------------------------- checks
def check_massive_doc(C, ref, doc, run, ids, tag, abs_thr=100.0, ratio=1000.0, top_k=3, expect=None,
                      critical=None):
    L = ref.L
    C.check(doc.get("schema") == "achilles.massive/1", tag + ": schema", repr(doc.get("schema")))
    C.check(doc["ids"] == ids, tag + ": ids")
    rule = doc["rule"]
    C.check(rule["abs_threshold"] == abs_thr and rule["ratio"] == ratio and rule["top_k"] == top_k,
            tag + ": rule", repr(rule))
    C.check([s["site"] for s in doc["sites"]] == SITE_ORDER, tag + ": sites in order",
            repr([s["site"] for s in doc["sites"]]))
    meds = {}
    bad = []
    for s in doc["sites"]:
        site = s["site"]
        if [x["layer"] for x in s["layers"]] != list(range(L)):
            bad.append("%s: layers %s" % (site, [x["layer"] for x in s["layers"]]))
            continue
        for x in s["layers"]:
            l = x["layer"]
            a = ref.site(run, site, l)
            A = a.abs()
            T, Ch = a.shape
            med = median_abs(a)
            meds[(site, l)] = med
            where = "%s L%d" % (site, l)
            if not close_act(x["median_abs"], med):
                bad.append("%s median_abs %.9g vs ref %.9g" % (where, x["median_abs"], med))
            flat = [(-float(A[t, c]), t, c) for t in range(T) for c in range(Ch)]
            flat.sort()
            ref_top = [-f[0] for f in flat[:top_k]]
            keys = [(e["token"], e["channel"]) for e in x["top"]]
            ok, why = ranked_ok(keys, lambda k: float(A[k]) if 0 <= k[0] < T and 0 <= k[1] < Ch else None,
                                ref_top, act_tol)
            if not ok:
                bad.append("%s top: %s" % (where, why))
            for e in x["top"]:
                t, c = e["token"], e["channel"]
                if 0 <= t < T and 0 <= c < Ch and not (close_act(e["value"], float(a[t, c])) and
                                                        close_act(e["abs"], float(A[t, c]))):
                    bad.append("%s top (%d,%d) value %.9g abs %.9g vs ref %.9g" % (where, t, c, e["value"], e["abs"],
                                                                                   float(a[t, c])))
            tma, tmc = x["token_max_abs"], x["token_max_channel"]
            if len(tma) != T or len(tmc) != T:
                bad.append("%s token_max_abs/channel length %d/%d vs %d" % (where, len(tma), len(tmc), T))
                continue
            mx = A.max(dim=1).values
            for t in range(T):
                if not close_act(tma[t], float(mx[t])):
                    bad.append("%s token_max_abs[%d] %.9g vs ref %.9g" % (where, t, tma[t], float(mx[t])))
                c = tmc[t]
                if not (0 <= c < Ch) or float(mx[t]) - float(A[t, c]) > act_tol(float(mx[t])):
                    bad.append("%s token_max_channel[%d] %s vs ref %d" % (where, t, c, int(A[t].argmax())))
                elif c != int(A[t].argmax()) and float(mx[t]) - float(A[t, c]) == 0.0 and c > int(A[t].argmax()):
                    bad.append("%s token_max_channel[%d] %d: exact tie, lowest is %d" % (where, t, c, int(A[t].argmax())))
    C.check(not bad, tag + ": per-site medians, top-%d, token max |a| and channel (%d site-layers)" % (top_k, len(meds)),
            "; ".join(bad[:6]) + (" (+%d more)" % (len(bad) - 6) if len(bad) > 6 else ""))
    # The massive entries: definite ones must be there, ones within float32 reach of a threshold may be either.
    definite, maybe = {}, set()
    for si, site in enumerate(SITE_ORDER):
        for l in range(L):
            a = ref.site(run, site, l)
            A = a.abs()
            med = meds.get((site, l), median_abs(a))
            tol = act_tol
            hit = (A > abs_thr) & (A > ratio * med)
            near = ((A - abs_thr).abs() <= tol(abs_thr)) | ((A - ratio * med).abs() <= 2e-4 * ratio * med)
            for t, c in (hit | near).nonzero().tolist():
                key = (site, l, t, c)
                if bool(near[t, c]):
                    maybe.add(key)
                else:
                    definite[key] = (float(a[t, c]), float(A[t, c]) / med)
    got = [(e["site"], e["layer"], e["token"], e["channel"]) for e in doc["massive"]]
    order = sorted(got, key=lambda k: (SITE_ORDER.index(k[0]) if k[0] in SITE_ORDER else 9, k[1], k[2], k[3]))
    C.check(got == order and len(set(got)) == len(got), tag + ": massive entries ordered by site, layer, token, channel")
    missing = [k for k in definite if k not in got]
    extra = [k for k in got if k not in definite and k not in maybe]
    C.check(not missing and not extra, tag + ": massive entries = the reference's (%d%s)" % (
        len(definite), ", %d at a threshold" % len(maybe) if maybe else ""),
        "missing %s, extra %s" % (missing[:5], extra[:5]))
    if expect is not None:
        C.check(sorted(definite) == sorted(expect) and not maybe, tag + ": the reference finds exactly the planted entries",
                "ref %s vs planted %s" % (sorted(definite), sorted(expect)))
    bad = []
    for e in doc["massive"]:
        k = (e["site"], e["layer"], e["token"], e["channel"])
        if k not in definite:
            continue
        v, r = definite[k]
        if not close_act(e["value"], v):
            bad.append("%s value %.9g vs ref %.9g" % (k, e["value"], v))
        if not close_rel(e["ratio"], r):
            bad.append("%s ratio %.9g vs ref %.9g" % (k, e["ratio"], r))
        same = {kk[1] for kk in list(definite) + list(maybe) if (kk[0], kk[2], kk[3]) == (k[0], k[2], k[3])}
        if any((k[0], ll, k[2], k[3]) in maybe for ll in range(L)):
            continue  # a run through a threshold entry: either reading holds
        first = last = k[1]
        while first - 1 in same:
            first -= 1
        while last + 1 in same:
            last += 1
        if list(e["persist"]) != [first, last]:
            bad.append("%s persist %s vs ref %s" % (k, e["persist"], [first, last]))
        want_crit = critical(k) if critical else False
        if want_crit is not None and bool(e["critical"]) != want_crit:
            bad.append("%s critical %s vs %s" % (k, e["critical"], want_crit))
    C.check(not bad, tag + ": massive values, ratios, persist ranges, critical flags", "; ".join(bad[:6]))
    C.check(doc["found"] is bool(definite) or (not definite and maybe and isinstance(doc["found"], bool)),
            tag + ": found = %s" % bool(definite),
            repr(doc["found"]))
    C.check(isinstance(doc.get("summary"), str) and doc["summary"].strip() != "", tag + ": summary", repr(doc.get("summary")))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--plain")
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()

    try:
        help_text = subprocess.run([a.cli, "--help"], capture_output=True, text=True, timeout=60).stdout
    except OSError as e:
        print("cannot run %s: %s" % (a.cli, e))
        return 1
    cmds = {c for c in ("massive", "sinks", "lens", "trace") if re.search(r"^\s+%s\s" % c, help_text, re.M)}
    if not cmds:
        print("skip: %s has none of the commands massive, sinks, lens, trace" % a.cli)
        return 77
    print("achilles-cli commands present: %s" % ", ".join(sorted(cmds)))

    g = json.load(open(os.path.join(a.model, "golden_inputs.json")))
    ids = g["ids"]
    P = g["planted"]
    Lp, Cc, Jc, tok = P["layer"], P["down_proj_channel"], P["source_column"], P["token"]
    sinks_planted = [(s["layer"], s["head"]) for s in P["sink_heads"]]
    planted = [(m["site"], m["layer"], m["token"], m["channel"]) for m in P["massive"]]
    ref = Ref(a.model)
    L, NH, T = ref.L, ref.nh, len(ids)
    neuron = "L%d.down_proj:%d" % (Lp, Cc)
    zero_c = [{"layer": Lp, "module": "down_proj", "channel": Cc}]
    M = ["--model", a.model]
    I = ["--ids", ",".join(map(str, ids))]
    C = Checker()
    with tempfile.TemporaryDirectory() as tmp:
        cli = Cli(a.cli, tmp, a.device)
        clean = ref.run(ids)
        masked = ref.run(ids, resolve(ref, zero_c, ids))

        # ---- massive
        def massive():
            doc = cli("massive", M + I)
            check_massive_doc(C, ref, doc, clean, ids, "massive", expect=planted)
            C.check(doc.get("mask") is None, "massive: no mask field on a clean run")
            doc = cli("massive", M + I + ["--mask", neuron])
            C.check(isinstance(doc.get("mask"), str) and doc["mask"] != "", "massive --mask: mask inline string",
                    repr(doc.get("mask")))
            # The top level stays the clean model; the "masked" block is the masked forward.
            check_massive_doc(C, ref, doc, clean, ids, "massive --mask " + neuron + " (clean side)", expect=planted)
            mb = doc.get("masked")
            C.check(isinstance(mb, dict) and all(k in mb for k in ("sites", "massive", "found", "summary")),
                    "massive --mask: a masked block with sites, massive, found, summary", repr(type(mb)))
            if isinstance(mb, dict):
                sub = dict(doc)
                sub.update({k: mb[k] for k in ("sites", "massive", "found", "summary") if k in mb})
                check_massive_doc(C, ref, sub, masked, ids, "massive --mask " + neuron + " (masked side)",
                                  expect=[k for k in planted if k[0] == "down_proj_input"])
            bad = []
            for e in doc["massive"]:
                want = float(ref.site(masked, e["site"], e["layer"])[e["token"], e["channel"]])
                if "masked_value" not in e or not close_act(e["masked_value"], want):
                    bad.append("%s L%d t%d ch%d masked_value %s vs ref %.9g" % (
                        e["site"], e["layer"], e["token"], e["channel"], e.get("masked_value"), want))
            C.check(not bad and doc["massive"] != [], "massive --mask: each clean entry's masked_value (%d)" %
                    len(doc["massive"]), "; ".join(bad[:6]))
            # The planted spike vanishes downstream: the residual channel at token 0 under the mask is
            # below the rule in every layer >= the planted one.
            spike = [float(ref.site(masked, "residual", l)[tok, Cc].abs()) for l in range(Lp, L)]
            C.check(all(v < 100.0 for v in spike), "massive --mask: the planted residual spike is gone in layers >= %d "
                    "(ref |a| %s)" % (Lp, ", ".join("%.3g" % v for v in spike)))
            doc = cli("massive", M + I + ["--critical", neuron])
            # Reading of "critical": the entry is at a critical neuron's (module, layer, channel);
            # only down_proj entries are asserted (the residual and down_proj_input ones are not).
            check_massive_doc(C, ref, doc, clean, ids, "massive --critical " + neuron,
                              critical=lambda k: (k == ("down_proj", Lp, tok, Cc)) if k[0] == "down_proj" else None)
            C.check(any(e["critical"] for e in doc["massive"] if (e["site"], e["layer"], e["channel"]) ==
                        ("down_proj", Lp, Cc)), "massive --critical: the planted down_proj entry is critical")
            # Low thresholds: many entries, persist runs over several layers.
            doc = cli("massive", M + I + ["--top-k", "5", "--abs-threshold", "1", "--ratio", "10"])
            check_massive_doc(C, ref, doc, clean, ids, "massive --abs-threshold 1 --ratio 10 --top-k 5",
                              abs_thr=1.0, ratio=10.0, top_k=5)
            if a.plain:
                pref = Ref(a.plain)
                pids = ids[:16]
                doc = cli("massive", ["--model", a.plain, "--ids", ",".join(map(str, pids))])
                p_ref = Ref.run(pref, pids)
                check_massive_doc(C, pref, doc, p_ref, pids, "massive (plain)", expect=[])
                C.check(doc["found"] is False and doc["massive"] == [], "massive (plain): found false, no entries")
                summ = doc.get("summary") or ""
                C.check(bool(re.search(r"\b(no|none|not)\b", summ, re.I)) and "massive" in summ.lower(),
                        "massive (plain): the summary says no massive activation was found", repr(doc.get("summary")))
        C.section("massive", massive)

        # ---- sinks
        def ftm(run):
            return [[float(run["extra"][(l, "attn")][h, 1:, 0].mean()) for h in range(NH)] for l in range(L)]

        def cmp_mass(got, want, tag):
            bad = []
            if len(got) != L or any(len(r) != NH for r in got):
                return C.check(False, tag, "shape %s" % [len(r) for r in got])
            for l in range(L):
                for h in range(NH):
                    if not close_p(got[l][h], want[l][h]):
                        bad.append("L%d.h%d %.7f vs ref %.7f" % (l, h, got[l][h], want[l][h]))
            C.check(not bad, tag + " (%dx%d)" % (L, NH), "; ".join(bad[:6]))

        def cmp_pattern(got, want, tag):
            bad = []
            if len(got) != T or any(len(r) != T for r in got):
                return C.check(False, tag, "shape")
            for t in range(T):
                for s in range(T):
                    if not close_p(got[t][s], float(want[t, s])):
                        bad.append("[%d][%d] %.7f vs ref %.7f" % (t, s, got[t][s], float(want[t, s])))
            C.check(not bad, tag + " (%dx%d)" % (T, T), "; ".join(bad[:6]))

        def sinks():
            fc, fm = ftm(clean), ftm(masked)
            for (l, h) in sinks_planted:
                C.check(fc[l][h] > 0.6 and fc[l][h] - fm[l][h] > 0.3,
                        "reference: sink head L%d.h%d first-token mass %.4f clean, %.4f masked" % (l, h, fc[l][h], fm[l][h]))
            pl, ph = sinks_planted[0]
            doc = cli("sinks", M + I + ["--mask", neuron, "--pattern", "%d.%d" % (pl, ph)])
            C.check(doc.get("schema") == "achilles.sinks/1", "sinks: schema", repr(doc.get("schema")))
            C.check(doc["ids"] == ids and doc["layers"] == L and doc["heads"] == NH, "sinks: ids, layers, heads")
            cmp_mass(doc["clean"]["first_token_mass"], fc, "sinks: clean first_token_mass")
            cmp_mass(doc["masked"]["first_token_mass"], fm, "sinks --mask %s: masked first_token_mass" % neuron)
            C.check(isinstance(doc.get("mask"), str) and doc["mask"] != "", "sinks --mask: mask inline string")
            for (l, h) in sinks_planted:
                c, m = doc["clean"]["first_token_mass"][l][h], doc["masked"]["first_token_mass"][l][h]
                C.check(c > 0.6 and c - m > 0.3, "sinks: planted head L%d.h%d %.4f -> %.4f (falls by > 0.3)" % (l, h, c, m))
            pt = doc["pattern"]
            C.check(pt["layer"] == pl and pt["head"] == ph, "sinks --pattern: layer, head")
            cmp_pattern(pt["clean"], clean["extra"][(pl, "attn")][ph], "sinks --pattern %d.%d: clean" % (pl, ph))
            cmp_pattern(pt["masked"], masked["extra"][(pl, "attn")][ph], "sinks --pattern %d.%d: masked" % (pl, ph))
            pl2, ph2 = sinks_planted[-1]
            doc = cli("sinks", M + I + ["--pattern", "%d.%d" % (pl2, ph2)])
            cmp_mass(doc["clean"]["first_token_mass"], fc, "sinks (no mask): clean first_token_mass")
            C.check(doc.get("masked") is None and doc["pattern"].get("masked") is None, "sinks (no mask): no masked run")
            cmp_pattern(doc["pattern"]["clean"], clean["extra"][(pl2, "attn")][ph2],
                        "sinks --pattern %d.%d: clean" % (pl2, ph2))
        C.section("sinks", sinks)

        # ---- ppl under ablation modes and weight edits
        def cmp_ppl(doc, run, tag):
            ok = close_rel(doc["ppl"], run["ppl"]) and doc["tokens"] == T and len(doc["nll"]) == T - 1
            worst = max((abs(x - float(y)) for x, y in zip(doc["nll"], run["nll"])), default=0.0)
            ok = ok and worst <= 2e-4 * max(1.0, float(run["nll"].abs().max()))
            C.check(ok, tag, "ppl %.9g vs ref %.9g (rel %.2g), tokens %s, max |nll diff| %.3g" % (
                doc["ppl"], run["ppl"], abs(doc["ppl"] - run["ppl"]) / run["ppl"], doc.get("tokens"), worst))

        def ppl():
            doc = cli("ppl", M + I, out=False)
            cmp_ppl(doc, clean, "ppl: clean %.4f" % clean["ppl"])
            base = {"layer": Lp, "module": "down_proj", "channel": Cc}
            modes = [{"mode": "zero"}, {"mode": "mean"}, {"mode": "scale", "factor": 0.5},
                     {"mode": "scale", "factor": 3}, {"mode": "clamp", "percentile": 90}, {"mode": "clamp", "percentile": 60}]
            masks = []
            for md in modes:
                for pos in (None, [tok]):
                    e = dict(base, **md)
                    if pos:
                        e["positions"] = pos
                    masks.append([e])
            masks.append([dict(base, mode="clamp", percentile=90, positions=[0, 3])])
            masks.append([dict(base, mode="mean", positions=[0, 5, 7])])
            masks.append([dict(base, mode="scale", factor=0.5),
                          {"layer": 2, "module": "k_proj", "channel": 3, "mode": "clamp", "percentile": 75}])
            masks.append([{"layer": 3, "module": "act_fn", "channel": 9, "mode": "mean", "positions": [4, 20]},
                          {"layer": 0, "module": "o_proj", "channel": 2}])
            for m in masks:
                spec = inline(m)
                run = ref.run(ids, resolve(ref, m, ids))
                cmp_ppl(cli("ppl", M + I + ["--mask", spec], out=False), run, "ppl --mask %s: %.4f" % (spec, run["ppl"]))
            # Statistics calibrated on other ids, and given in a JSON mask.
            cal = [1, 5, 9, 14, 22, 40, 41, 2, 7, 33, 60, 12]
            for m in ([dict(base, mode="mean")], [dict(base, mode="clamp", percentile=95, positions=[0])]):
                spec = inline(m)
                run = ref.run(ids, resolve(ref, m, ids, cal))
                cmp_ppl(cli("ppl", M + I + ["--mask", spec, "--calibrate-ids", ",".join(map(str, cal))], out=False), run,
                        "ppl --mask %s --calibrate-ids (12 other ids): %.4f" % (spec, run["ppl"]))
            # Statistics pooled over a sample of three sequences (ppl --calibrate-ids "a;b;c").
            pool = [cal, [3, 8, 13, 21, 34, 55], ids[:9]]
            for m in ([dict(base, mode="mean")], [dict(base, mode="clamp", percentile=90)]):
                spec = inline(m)
                run = ref.run(ids, resolve(ref, m, ids, pool))
                cmp_ppl(cli("ppl", M + I + ["--mask", spec, "--calibrate-ids", ";".join(",".join(map(str, c)) for c in pool)],
                            out=False), run,
                        "ppl --mask %s --calibrate-ids (3 samples pooled): %.4f" % (spec, run["ppl"]))
            for m in ([dict(base, mode="mean", mean=5.0)], [dict(base, mode="clamp", percentile=90, lo=-2.0, hi=40.0)],
                      [dict(base, mode="scale", factor=0.25, positions=[0])]):
                f = os.path.join(tmp, "mask-%d.json" % len(os.listdir(tmp)))
                json.dump(m, open(f, "w"))
                run = ref.run(ids, resolve(ref, m, ids))
                cmp_ppl(cli("ppl", M + I + ["--mask", f], out=False), run, "ppl --mask FILE %s: %.4f" % (json.dumps(m), run["ppl"]))
            kv_row = (sinks_planted[0][1] // (NH // ref.model.nkv)) * ref.model.hd + 3
            for edit in ((Lp, "down_proj", Cc, Jc, 0.0), (sinks_planted[0][0], "k_proj", kv_row, Cc, 0.5),
                         (Lp, "gate_proj", Jc, g["planted"]["bos_dim"], -1.0)):
                spec = "L%d.%s[%d,%d]*%g" % edit
                run = ref.run(ids, None, edit)
                cmp_ppl(cli("ppl", M + I + ["--weight-edit", spec], out=False), run,
                        "ppl --weight-edit %s: %.4f" % (spec, run["ppl"]))
            run = ref.run(ids, resolve(ref, [dict(base, mode="scale", factor=2)], ids), (Lp, "down_proj", Cc, Jc, 0.5))
            cmp_ppl(cli("ppl", M + I + ["--mask", inline([dict(base, mode="scale", factor=2)]), "--weight-edit",
                                        "L%d.down_proj[%d,%d]*0.5" % (Lp, Cc, Jc)], out=False), run,
                    "ppl --mask =scale:2 --weight-edit *0.5 together: %.4f" % run["ppl"])
        C.section("ppl", ppl)

        # ---- trace
        def trace_ref(l, module, ch, t, top, scale):
            r = clean
            if module == "down_proj":
                x = r["extra"][(l, "down_proj_input")][t]
                Wname, matrix = "model.layers.%d.mlp.down_proj.weight" % l, "down_proj"
                val = lambda run: float(run["rec"][(l, "down_proj")][t, ch])  # noqa: E731
            else:
                x = r["extra"][(l, "mlp_input")][t]
                Wname, matrix = "model.layers.%d.mlp.gate_proj.weight" % l, "gate_proj"
                val = lambda run: float(run["rec"][(l, "act_fn")][t, ch])  # noqa: E731
            W = ref.w[Wname][ch]
            contrib = W * x
            order = sorted(range(len(x)), key=lambda j: (-abs(float(contrib[j])), j))
            j0 = order[0]
            rw = ref.run(ids, None, (l, matrix, ch, j0, scale))
            rc = ref.run(ids, resolve(ref, [{"layer": l, "module": module, "channel": ch}], ids))
            rct = ref.run(ids, resolve(ref, [{"layer": l, "module": module, "channel": ch, "positions": [t]}], ids))
            rmax = lambda run: float(run["extra"][(l, "residual")][t].abs().max())  # noqa: E731
            return {"x": x, "W": W, "contrib": contrib, "order": order[:top], "matrix": matrix, "value": val(clean),
                    "ppl_clean": clean["ppl"], "ppl_weight": rw["ppl"], "ppl_channel": rc["ppl"],
                    "ppl_channel_token_only": rct["ppl"], "value_weight": val(rw),
                    "residual_max_abs": {"clean": rmax(clean), "weight": rmax(rw), "channel": rmax(rc)}}

        def check_trace(l, module, ch, extra_args, top, scale, token=None):
            nname = "L%d.%s:%d" % (l, module, ch)
            tag = "trace --neuron %s%s" % (nname, (" " + " ".join(extra_args)) if extra_args else "")
            site = clean["rec"][(l, module)][:, ch].abs()
            t_ref = int(site.argmax()) if token is None else token
            doc = cli("trace", M + I + ["--neuron", nname] + extra_args)
            C.check(doc.get("schema") == "achilles.trace/1" and doc["ids"] == ids and doc["neuron"] == nname,
                    tag + ": schema, ids, neuron", repr((doc.get("schema"), doc.get("neuron"))))
            srt = site.sort(descending=True).values
            tie_ok = token is None and doc["token"] != t_ref and float(srt[0] - site[doc["token"]]) <= act_tol(float(srt[0]))
            C.check(doc["token"] == t_ref or tie_ok, tag + ": token %d" % t_ref, "CLI %s" % doc["token"])
            R = trace_ref(l, module, ch, t_ref, top, scale)
            C.check(doc["matrix"] == R["matrix"], tag + ": matrix " + R["matrix"], repr(doc["matrix"]))
            C.check(close_act(doc["value"], R["value"]), tag + ": value %.6f" % R["value"], "CLI %.9g" % doc["value"])
            ws = doc["weights"]
            keys = [(w["row"], w["col"]) for w in ws]
            n_in = len(R["x"])
            ok, why = ranked_ok(keys, lambda k: abs(float(R["contrib"][k[1]])) if k[0] == ch and 0 <= k[1] < n_in else None,
                                [abs(float(R["contrib"][j])) for j in R["order"]], act_tol)
            C.check(ok, tag + ": top-%d weights by |contribution| (top col %d)" % (top, R["order"][0]), why)
            bad = []
            for w in ws:
                j = w["col"]
                if not (0 <= j < n_in):
                    continue
                if not (close_act(w["weight"], float(R["W"][j])) and close_act(w["input"], float(R["x"][j])) and
                        close_act(w["contribution"], float(R["contrib"][j]))):
                    bad.append("col %d: W %.9g x %.9g c %.9g vs ref %.9g %.9g %.9g" % (
                        j, w["weight"], w["input"], w["contribution"], float(R["W"][j]), float(R["x"][j]),
                        float(R["contrib"][j])))
            C.check(not bad, tag + ": weights, inputs, contributions", "; ".join(bad[:4]))
            ab = doc["ablation"]
            C.check(ab["scale"] == scale, tag + ": ablation scale %g" % scale, repr(ab["scale"]))
            for k in ("ppl_clean", "ppl_weight", "ppl_channel"):
                extra = ""
                if k == "ppl_channel" and not close_rel(ab[k], R[k]) and close_rel(ab[k], R["ppl_channel_token_only"]):
                    extra = " (CLI zeroed the channel at token %d only: ref %.9g)" % (t_ref, R["ppl_channel_token_only"])
                C.check(close_rel(ab[k], R[k]), tag + ": %s %.4f" % (k, R[k]), "CLI %.9g%s" % (ab[k], extra))
            for k, p in (("delta_log10_weight", "ppl_weight"), ("delta_log10_channel", "ppl_channel")):
                want = math.log10(R[p]) - math.log10(R["ppl_clean"])
                C.check(abs(ab[k] - want) <= 2e-4, tag + ": %s %.5f" % (k, want), "CLI %.9g" % ab[k])
            C.check(close_act(ab["value_weight"], R["value_weight"]), tag + ": value_weight %.6f" % R["value_weight"],
                    "CLI %.9g" % ab["value_weight"])
            rm = ab["residual_max_abs"]
            C.check(all(close_act(rm[k], R["residual_max_abs"][k]) for k in ("clean", "weight", "channel")),
                    tag + ": residual_max_abs %s" % {k: round(v, 4) for k, v in R["residual_max_abs"].items()}, repr(rm))
            return doc

        def trace():
            doc = check_trace(Lp, "down_proj", Cc, [], 10, 0.0)
            C.check(doc["token"] == tok and doc["weights"][0]["row"] == Cc and doc["weights"][0]["col"] == Jc,
                    "trace: planted token %d, top weight (row %d, col %d)" % (tok, Cc, Jc))
            check_trace(Lp, "down_proj", Cc, ["--token", "3", "--top", "4", "--scale", "0.5"], 4, 0.5, token=3)
            check_trace(Lp, "act_fn", Jc, ["--top", "5"], 5, 0.0)
        C.section("trace", trace)

        # ---- lens
        def lens_ref(run, pos, top):
            layers = []
            res = torch.stack([run["extra"][(l, "residual")] for l in range(L)])  # [L, T, H]
            logits = run["model"].final(res)  # [L, T, V]
            for l in range(L):
                lg = logits[l]
                layers.append({"logits": lg, "probs": torch.softmax(lg, dim=-1)})
            return layers, logits

        def check_lens(doc, run, pos, top, tag):
            layers, logits = lens_ref(run, pos, top)
            true = ids[pos + 1]
            C.check(len(doc["layers"]) == L and [x["layer"] for x in doc["layers"]] == list(range(L)),
                    tag + ": %d layers" % L)
            bad = []
            for x in doc["layers"]:
                l = x["layer"]
                lg, pr = layers[l]["logits"][pos], layers[l]["probs"][pos]
                order = sorted(range(len(lg)), key=lambda v: (-float(lg[v]), v))[:top]
                ok, why = ranked_ok([e["id"] for e in x["top"]], lambda v: float(lg[v]) if 0 <= v < len(lg) else None,
                                    [float(lg[v]) for v in order], lambda r: LOGIT_TIE)
                if not ok:
                    bad.append("L%d top ids %s vs ref %s: %s" % (l, [e["id"] for e in x["top"]], order, why))
                for e in x["top"]:
                    if 0 <= e["id"] < len(pr) and not close_p(e["prob"], float(pr[e["id"]])):
                        bad.append("L%d id %d prob %.7f vs ref %.7f" % (l, e["id"], e["prob"], float(pr[e["id"]])))
                exact, lo, hi = rank_range(lg, true)
                if not lo <= x["true_rank"] <= hi:
                    bad.append("L%d true_rank %s vs ref %d" % (l, x["true_rank"], exact))
                if not close_p(x["true_prob"], float(pr[true])):
                    bad.append("L%d true_prob %.7f vs ref %.7f" % (l, x["true_prob"], float(pr[true])))
            C.check(not bad, tag + ": per-layer top-%d ids and probs, true_rank, true_prob at position %d" % (top, pos),
                    "; ".join(bad[:5]))
            ra = doc["true_rank_all"]
            bad = []
            if len(ra) != L or any(len(r) != T - 1 for r in ra):
                bad.append("shape %s" % [len(r) for r in ra])
            else:
                for l in range(L):
                    for p in range(T - 1):
                        exact, lo, hi = rank_range(logits[l, p], ids[p + 1])
                        if not lo <= ra[l][p] <= hi:
                            bad.append("L%d pos %d rank %s vs ref %d" % (l, p, ra[l][p], exact))
            C.check(not bad, tag + ": true_rank_all (%d x %d)" % (L, T - 1), "; ".join(bad[:5]))
            # The last layer is the model's own output distribution.
            own = torch.softmax(run["logits"][pos], dim=-1)
            last = doc["layers"][-1]
            C.check(all(close_p(e["prob"], float(own[e["id"]])) for e in last["top"]) and
                    close_p(last["true_prob"], float(own[true])), tag + ": the last layer is the model's output",
                    "true_prob %.7f vs model %.7f" % (last["true_prob"], float(own[true])))
            return last

        def lens():
            pos = T - 2
            doc = cli("lens", M + I + ["--mask", neuron])
            C.check(doc.get("schema") == "achilles.lens/1" and doc["ids"] == ids, "lens: schema, ids")
            C.check(doc["position"] == pos and doc["true_next"] == ids[pos + 1], "lens: default position T-2 = %d" % pos,
                    repr((doc.get("position"), doc.get("true_next"))))
            last = check_lens(doc["clean"], clean, pos, 5, "lens: clean")
            check_lens(doc["masked"], masked, pos, 5, "lens --mask %s: masked" % neuron)
            own = cli("ppl", M + I, out=False)
            C.check(abs(last["true_prob"] - math.exp(-own["nll"][pos])) <= P_TOL,
                    "lens: last layer's true_prob = exp(-nll) of achilles-cli ppl at position %d" % pos,
                    "%.7f vs %.7f" % (last["true_prob"], math.exp(-own["nll"][pos])))
            doc = cli("lens", M + I + ["--position", "0", "--top", "3"])
            C.check(doc["position"] == 0 and doc["true_next"] == ids[1] and doc.get("masked") is None,
                    "lens --position 0: position, true_next, no masked run")
            check_lens(doc["clean"], clean, 0, 3, "lens --position 0 --top 3: clean")
        C.section("lens", lens)

        # ---- curve: a search result's stage-2 curve re-run under other ablation modes
        def curve():
            res = os.path.join(tmp, "search.json")
            p = subprocess.run([a.cli, "--quiet", "search"] + M + I + ["--samples", "4", "--epsilon", "9", "--max-steps", "6",
                                "--out", res, "--device", a.device], capture_output=True, text=True, timeout=300)
            if p.returncode != 0:
                raise Failure("achilles-cli search exited %d: %s" % (p.returncode, p.stderr.strip()[-500:]))
            r = json.load(open(res))
            C.check(len(r["curve"]) >= 4, "curve: the search result has a stage-2 curve of several points", str(len(r["curve"])))

            def prefix(n):  # unique channels of the top-n ranking entries, in first-seen order
                seen, out = set(), []
                for e in r["ranking"][:n]:
                    k = (e["layer"], e["module"], e["channel"])
                    if k not in seen:
                        seen.add(k)
                        out.append(k)
                return out

            for mode, extra, positions in (("zero", {}, None), ("mean", {}, None), ("scale:0.5", {"factor": 0.5}, None),
                                           ("clamp:60", {"percentile": 60.0}, None), ("mean", {}, [0])):
                args = ["--result", res, "--mode", mode] + (["--positions", "0"] if positions else [])
                doc = cli("curve", M + args)
                name = mode.split(":")[0]
                tag = "curve --mode %s%s" % (mode, " --positions 0" if positions else "")
                C.check(doc.get("schema") == "achilles.curve/1" and doc["ablation"]["mode"] == name and
                        doc["ablation"]["positions"] == (positions or []), tag + ": schema, mode, positions")
                C.check([q["n"] for q in doc["curve"]] == [q["n"] for q in r["curve"]], tag + ": the result's n values")
                bad = []
                for q in doc["curve"]:
                    chans = prefix(q["n"])
                    if q["unique_channels"] != len(chans):
                        bad.append("n %d: %d channels vs %d" % (q["n"], q["unique_channels"], len(chans)))
                    entries = [dict({"layer": l, "module": m, "channel": c, "mode": name, "positions": positions}, **extra)
                               for (l, m, c) in chans]
                    want = ref.run(ids, resolve(ref, entries, ids))["ppl"]
                    if not close_rel(q["ppl"], want):
                        bad.append("n %d: ppl %.9g vs ref %.9g" % (q["n"], q["ppl"], want))
                    if name == "zero" and not positions:
                        same = [x for x in r["curve"] if x["n"] == q["n"]][0]
                        if abs(q["ppl"] - same["ppl"]) > 1e-9 * same["ppl"]:
                            bad.append("n %d: zero-mode ppl %.12g differs from the search's %.12g" % (q["n"], q["ppl"], same["ppl"]))
                C.check(not bad, tag + ": every point equals the reference (%d points)" % len(doc["curve"]), "; ".join(bad[:5]))
        C.section("curve", curve)

        for cmd in ("massive", "sinks", "lens", "trace"):
            C.check(cmd in cmds, "achilles-cli --help lists %s" % cmd)
    print("%d passed, %d failed" % (C.passed, C.failed))
    return 1 if C.failed or C.passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
