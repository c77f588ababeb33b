# SPDX-License-Identifier: GPL-3.0-or-later
"""Cross-checks the tokenizer goldens (tests/tokenizer/golden, which the C++ tokenizer must match
exactly) against Hugging Face's Python implementations, so the engine is tied to what users run:

  tokenizer.json   -> `tokenizers.Tokenizer.from_file` (Rust tokenizers) and transformers'
                      `PreTrainedTokenizerFast`
  tokenizer.model  -> transformers' slow SentencePiece tokenizer (`SentencePieceBackend`: the
                      sentencepiece library under transformers' special-token splitting); Debian's
                      python sentencepiece is the other check, in test_tokenizer

  .venv/bin/python tests/reference/check_tokenizers_hf.py [--goldens DIR] [--shared DIR]

Goldens whose tokenizer lives in ../shared are skipped when it is absent. Prints one line per
(golden, implementation) and a closing "N passed, N failed, N skipped" line; exit 77 when this
python lacks tokenizers/transformers (CTest: skipped).
"""
import argparse
import json
import os
import sys

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
try:
    import tokenizers
    import transformers
    from transformers import PreTrainedTokenizerFast
    from transformers.tokenization_utils_sentencepiece import SentencePieceBackend
except ImportError as e:
    print("skipped: this python has no tokenizers/transformers (%s)" % e)
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)


def shared_root(arg):
    if arg:
        return arg
    if os.environ.get("ACHILLES_SHARED"):
        return os.environ["ACHILLES_SHARED"]
    return os.path.join(os.path.dirname(TESTS), "..", "shared")


def token_content(t):
    return t.get("content") if isinstance(t, dict) else t


def implementations(path):
    """(label, encode(text, add_special) -> ids) for the tokenizer at path.

    With add_special, the project's documented policy (core/src/tokenizer/bpe.cpp) applies on top
    of HF's plain ids where HF itself adds nothing: the post-processor's template when it adds
    tokens, else tokenizer_config.json's add_bos_token, defaulting to adding the configured
    bos_token (as Llama/Mistral tokenizers do). SentencePiece models add BOS like LlamaTokenizer."""
    if path.endswith(".model"):
        slow = SentencePieceBackend(vocab_file=path, legacy=True, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
        bos = slow.sp_model.bos_id()

        def enc_slow(t, special):
            ids = slow(t, add_special_tokens=False)["input_ids"]
            return ([bos] if special and bos >= 0 else []) + ids

        return [("transformers SentencePieceBackend %s" % transformers.__version__, enc_slow)]
    d = path if os.path.isdir(path) else os.path.dirname(path)
    tj = os.path.join(d, "tokenizer.json")
    cfg_path = os.path.join(d, "tokenizer_config.json")
    cfg = json.load(open(cfg_path)) if os.path.exists(cfg_path) else {}
    rust = tokenizers.Tokenizer.from_file(tj)
    fast = PreTrainedTokenizerFast(tokenizer_file=tj)
    post_adds = len(rust.encode("a", add_special_tokens=True).ids) != len(rust.encode("a", add_special_tokens=False).ids)
    bos_tok = token_content(cfg.get("bos_token"))
    bos = rust.token_to_id(bos_tok) if bos_tok else None
    add_bos = not post_adds and cfg.get("add_bos_token", bos is not None) and bos is not None

    def policy(enc):
        def f(t, special):
            if not special or post_adds:
                return enc(t, special)
            return ([bos] if add_bos else []) + enc(t, False)
        return f

    return [("tokenizers %s" % tokenizers.__version__, policy(lambda t, s: rust.encode(t, add_special_tokens=s).ids)),
            ("transformers PreTrainedTokenizerFast %s" % transformers.__version__,
             policy(lambda t, s: fast(t, add_special_tokens=s)["input_ids"]))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--goldens", default=os.path.join(TESTS, "tokenizer", "golden"))
    ap.add_argument("--shared")
    a = ap.parse_args()
    shared = shared_root(a.shared)
    passed = failed = skipped = 0
    for fname in sorted(os.listdir(a.goldens)):
        g = json.load(open(os.path.join(a.goldens, fname)))
        base = shared if g["base"] == "shared" else TESTS
        path = os.path.join(base, g["path"])
        if not os.path.exists(path):
            print("SKIP %s: %s is absent" % (g["tokenizer"], path))
            skipped += 1
            continue
        for label, enc in implementations(path):
            bad = []
            for c in g["cases"]:
                for key, special in (("ids_plain", False), ("ids_special", True)):
                    got = list(enc(c["text"], special))
                    if got != c[key]:
                        bad.append((key, c["text"][:40], got[:8], c[key][:8]))
            ok = not bad
            detail = "%d cases equal" % len(g["cases"]) if ok else "%d mismatches, first %r" % (len(bad), bad[0])
            print("%s %s vs %s: %s" % ("PASS" if ok else "FAIL", g["tokenizer"], label, detail))
            passed, failed = passed + ok, failed + (not ok)
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
