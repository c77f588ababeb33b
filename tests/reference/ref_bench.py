# SPDX-License-Identifier: GPL-3.0-or-later
"""Independent float64 reference of the multiple-choice benchmark (achilles-cli eval), written apart
from the C++ code on top of ref_model.py. Run with /usr/bin/python3 (torch 1.13, numpy, sentencepiece).

  python3 ref_bench.py make OUTDIR    writes the committed benchmark fixtures (OUTDIR/*.jsonl, *.csv)
                                      and OUTDIR/golden.json computed on resources/default-model

The golden holds, for each fixture file, the parsed items (Python's json and csv modules), and for
tiny.jsonl under each condition (unmasked and a fixed mask) the per-choice log-likelihoods:
context "Question: {q}\\nAnswer:", continuation " " + choice, continuation tokens =
encode(context + continuation)[len(encode(context)):], sequence [BOS] + encode(context) + those,
log P = sum of the continuation tokens' log-softmax; acc = argmax (first on ties), acc_norm = argmax of
log P / len(continuation.encode("utf-8")). It also holds the greedy generations (gen prompt, 50 new
tokens, stop at EOS) and the answers extracted from them with Python's re module.
"""
import csv
import io
import json
import math
import os
import re
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from ref_search import load  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
MODEL = os.path.join(ROOT, "resources", "default-model")
MASK = [(5, "down_proj", 3), (0, "act_fn", 10), (5, "act_fn", 7), (4, "down_proj", 100)]

TINY = [
    {"id": "t1", "subject": "animals", "question": "Which animal says moo?",
     "choices": ["a cow", "a cat", "a fish", "a bird"], "answer": 0},
    {"id": "t2", "subject": "animals", "question": "What does a little dog like to do?",
     "choices": ["run and play in the park", "fly"], "answer": 0},
    {"id": "t3", "subject": "numbers", "question": "Tom had two apples and ate one. How many are left?",
     "choices": ["one", "two", "three"], "answer": 0},
    {"id": "t4", "subject": "numbers", "question": "What comes after one?",
     "choices": ["two", "seven", "ten", "many"], "answer": 0},
    {"id": "t5", "subject": "animals", "question": "Where does the fish live?",
     "choices": ["in the water", "in the sky", "in a tree", "in the caf\u00e9"], "answer": 0},
    {"id": 6, "question": "The sun was hot. Lily went to the",
     "choices": ["beach", "moon", "box"], "answer": 0, "labels": ["A", "B", "C"]},
]

ARC = [
    {"id": "arc1", "question": "Which is a living thing?",
     "choices": {"text": ["a rock", "a tree", "a cup", "a shoe"], "label": ["A", "B", "C", "D"]}, "answerKey": "B"},
    {"id": "arc2", "question": "What do plants need to grow?",
     "choices": {"text": ["sunlight", "sand", "plastic"], "label": ["1", "2", "3"]}, "answerKey": "1"},
    {"id": "arc3", "question": "What is ice made of?",
     "choices": {"text": ["water", "fire", "wood", "air", "metal"], "label": ["A", "B", "C", "D", "E"]},
     "answerKey": "A"},
]

CSV_ROWS = [
    ["What is in the sky at night?", "the moon", "a \"big\" car", "a dog, a cat", "the sea", "A"],
    ["Which one is a colour?", "red", "run", "jump", "sing", "A"],
    ["A question\nover two lines?", "yes", "no", "maybe", "never", "B"],
]


def write_fixtures(outdir):
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "tiny.jsonl"), "w", encoding="utf-8", newline="\n") as f:
        for r in TINY:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    with open(os.path.join(outdir, "arc.jsonl"), "w", encoding="utf-8", newline="\n") as f:
        for r in ARC:
            f.write(json.dumps(r) + "\n")
    with open(os.path.join(outdir, "astronomy_test.csv"), "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\r\n")
        for r in CSV_ROWS:
            w.writerow(r)
    with open(os.path.join(outdir, "header.csv"), "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["question", "choice0", "choice1", "choice2", "answer", "subject"])
        w.writerow(["Pick the fruit.", "apple", "stone", "chair", "0", "food"])
        w.writerow(["Pick the drink.", "bread", "milk", "rice", "1", "food"])


# ---- independent readers (the golden's parsed items)
def parse_jsonl(path):
    items = []
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        if not line.strip():
            continue
        d = json.loads(line)
        ch = d["choices"]
        if isinstance(ch, dict):
            choices, labels = ch["text"], ch["label"]
        else:
            choices = ch
            labels = d.get("labels") or [chr(65 + i) for i in range(len(ch))]
        ans = d["answer"] if "answer" in d else labels.index(d["answerKey"])
        items.append({"id": str(d.get("id", n)), "subject": d.get("subject", ""), "question": d["question"],
                      "choices": choices, "labels": labels, "answer": ans, "line": n})
    return items


def parse_csv(path, subject):
    items = []
    text = open(path, encoding="utf-8", newline="").read()
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header = rows[0][0].strip().lower() == "question"
    # csv gives no line numbers for records: count physical lines.
    starts, line = [], 1
    for r in rows:
        starts.append(line)
        line += sum(f.count("\n") for f in r) + 1
    names = rows[0] if header else None
    for i, r in enumerate(rows):
        if header and i == 0:
            continue
        if header:
            cols = {n: v for n, v in zip(names, r)}
            choices = [v for n, v in zip(names, r) if n not in ("question", "answer", "subject", "id")]
            a = cols["answer"].strip()
            ans = int(a) if a.isdigit() else ord(a) - 65
            subj = cols.get("subject", subject)
            q = cols["question"]
        else:
            q, choices, a = r[0], r[1:-1], r[-1].strip()
            ans = int(a) if a.isdigit() else ord(a) - 65
            subj = subject
        items.append({"id": str(starts[i]), "subject": subj, "question": q, "choices": choices,
                      "labels": [chr(65 + k) for k in range(len(choices))], "answer": ans, "line": starts[i]})
    return items


# ---- scoring
def sp_processor():
    import sentencepiece as spm
    return spm.SentencePieceProcessor(model_file=os.path.join(MODEL, "tokenizer.model"))


def logprob_of(model, ids, start, mask):
    lg = model.forward(torch.tensor([ids]), mask=mask)
    lp = torch.log_softmax(lg[0], dim=-1)
    return float(sum(lp[t - 1, ids[t]] for t in range(start, len(ids))))


def gen_prompt(item):
    p = ("The following is a multiple choice question. Think step by step and then finish your answer "
         "with \"The answer is (X)\" where X is the correct letter choice.\n\nQuestion: " + item["question"] +
         "\nOptions:\n")
    for i, c in enumerate(item["choices"]):
        p += "(" + chr(65 + i) + ") " + c + "\n"
    return p + "Answer:"


def extract(text, n):
    m = re.search(r"The answer is \(?([A-Z])\)?", text)
    if m:
        return ord(m.group(1)) - 65, "regex"
    for m in re.finditer(r"(?<![A-Za-z0-9])([A-Z])(?![A-Za-z0-9])", text):
        k = ord(m.group(1)) - 65
        if k < n:
            return k, "fallback"
    return -1, "none"


def greedy_gen(model, sp, prompt_ids, n, mask, eos):
    ids = list(prompt_ids)
    out = []
    for _ in range(n):
        lg = model.forward(torch.tensor([ids]), mask=mask)
        nxt = int(torch.argmax(lg[0, -1]))
        ids.append(nxt)
        if nxt == eos:
            break
        out.append(nxt)
    return out


def score(model, sp, items, mask, bos, eos, gen_new):
    res = []
    for it in items:
        ctx = "Question: " + it["question"] + "\nAnswer:"
        ctx_ids = sp.encode(ctx)
        lps, toks, nbytes = [], [], []
        for c in it["choices"]:
            cont = " " + c
            whole = sp.encode(ctx + cont)
            cont_ids = whole[len(ctx_ids):]
            seq = [bos] + ctx_ids + cont_ids
            lps.append(logprob_of(model, seq, len(seq) - len(cont_ids), mask))
            toks.append(len(cont_ids))
            nbytes.append(len(cont.encode("utf-8")))
        norm = [l / b for l, b in zip(lps, nbytes)]
        r = {"logprob": lps, "tokens": toks, "bytes": nbytes,
             "ll_pred": max(range(len(lps)), key=lambda k: (lps[k], -k)),
             "ll_norm_pred": max(range(len(norm)), key=lambda k: (norm[k], -k))}
        if gen_new:
            prompt = [bos] + sp.encode(gen_prompt(it))
            out = greedy_gen(model, sp, prompt, gen_new, mask, eos)
            text = sp.decode(out)
            k, how = extract(text, len(it["choices"]))
            r.update({"gen_ids": out, "gen_text": text, "gen_pred": k, "gen_how": how})
        res.append(r)
    return res


def make(outdir):
    write_fixtures(outdir)
    sp = sp_processor()
    model = load(MODEL)
    cfg = json.load(open(os.path.join(MODEL, "config.json")))
    bos, eos = cfg["bos_token_id"], cfg["eos_token_id"]
    tiny = parse_jsonl(os.path.join(outdir, "tiny.jsonl"))
    golden = {
        "model": "resources/default-model",
        "mask": [{"layer": l, "module": m, "channel": c} for l, m, c in MASK],
        "files": {
            "tiny.jsonl": tiny,
            "arc.jsonl": parse_jsonl(os.path.join(outdir, "arc.jsonl")),
            "astronomy_test.csv": parse_csv(os.path.join(outdir, "astronomy_test.csv"), "astronomy"),
            "header.csv": parse_csv(os.path.join(outdir, "header.csv"), "header"),
        },
        "conditions": {},
    }
    for name, mask in (("unmasked", None), ("masked", [(l, m, c, None) for l, m, c in MASK])):
        items = score(model, sp, tiny, mask, bos, eos, 50)
        ll = sum(r["ll_pred"] == it["answer"] for r, it in zip(items, tiny))
        lln = sum(r["ll_norm_pred"] == it["answer"] for r, it in zip(items, tiny))
        golden["conditions"][name] = {"items": items, "ll_correct": ll, "ll_norm_correct": lln}
    with open(os.path.join(outdir, "golden.json"), "w") as f:
        json.dump(golden, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "make":
        make(sys.argv[2])
    else:
        print(__doc__)
        sys.exit(2)
