#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Golden renders of chat templates, for tests/tokenizer/test_chat_template.cpp.

Default mode (jinja2 only): renders every tests/tokenizer/data/chat/templates/*.jinja with every
context of contexts.json the way transformers 5 does (its chat_template_utils: an
ImmutableSandboxedEnvironment with trim_blocks, lstrip_blocks and the loopcontrols extension; its
tojson, raise_exception, strftime_now and namespace; tools and documents passed as None) and writes
golden/<template>.<context>.txt, or <template>.<context>.error.txt holding the exception's message
when jinja2 raises. It also checks that every template of unsupported/ is valid Jinja2 (so the
renderer's refusals are about the subset, not about syntax).

    make_chat_goldens.py                 # rewrite the committed goldens
    make_chat_goldens.py --check DIR     # render into DIR and compare with the committed ones

--hf mode (transformers): tokenizer.apply_chat_template(tokenize=False) for each conversation of
conversations.json on each tokenizer folder given; writes OUT/<folder name>.<conversation>.txt.

    make_chat_goldens.py --hf OUT ../shared/tokenizers/qwen3 ../shared/tokenizers/llama3
"""
import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "tokenizer" / "data" / "chat"


def environment():
    # Mirrors transformers.utils.chat_template_utils._cached_compile_jinja_template (transformers 5).
    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        from datetime import datetime
        return datetime.now().strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    env.globals["namespace"] = jinja2.utils.Namespace
    return env


def render_all(out: Path) -> list:
    env = environment()
    contexts = json.loads((DATA / "contexts.json").read_text(encoding="utf-8"))
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for tpl in sorted((DATA / "templates").glob("*.jinja")):
        template = env.from_string(tpl.read_text(encoding="utf-8"))
        for name, ctx in contexts.items():
            args = {"tools": None, "documents": None, **ctx}
            try:
                text, suffix = template.render(**args), ".txt"
            except Exception as e:  # the renderer must fail too, with the same message for raise_exception
                text, suffix = str(e), ".error.txt"
            path = out / f"{tpl.stem}.{name}{suffix}"
            path.write_bytes(text.encode("utf-8"))
            written.append(path.name)
    for tpl in sorted((DATA / "unsupported").glob("*.jinja")):
        env.parse(tpl.read_text(encoding="utf-8"))  # raises on invalid Jinja2
    return written


def hf(out: Path, folders: list) -> None:
    from transformers import AutoTokenizer

    conversations = json.loads((DATA / "conversations.json").read_text(encoding="utf-8"))
    out.mkdir(parents=True, exist_ok=True)
    for folder in folders:
        tok = AutoTokenizer.from_pretrained(folder)
        for name, conv in conversations.items():
            extra = {k: v for k, v in conv.items() if k not in ("messages", "add_generation_prompt")}
            try:
                text, suffix = tok.apply_chat_template(conv["messages"], tokenize=False,
                                                       add_generation_prompt=conv["add_generation_prompt"], **extra), ".txt"
            except Exception as e:
                text, suffix = str(e), ".error.txt"
            (out / f"{Path(folder).name}.{name}{suffix}").write_bytes(text.encode("utf-8"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", metavar="DIR", help="render into DIR and compare with the committed goldens")
    ap.add_argument("--hf", metavar="OUT", help="transformers' apply_chat_template on the tokenizer folders given")
    ap.add_argument("folders", nargs="*")
    a = ap.parse_args()
    if a.hf:
        hf(Path(a.hf), a.folders)
        return 0
    golden = DATA / "golden"
    if a.check:
        names = render_all(Path(a.check))
        bad = [n for n in names if not (golden / n).exists() or (golden / n).read_bytes() != (Path(a.check) / n).read_bytes()]
        stale = sorted({p.name for p in golden.glob("*.txt")} - set(names))
        for n in bad:
            print(f"differs: {n}")
        for n in stale:
            print(f"stale: {n}")
        print(f"{len(names) - len(bad)}/{len(names)} goldens match")
        return 1 if bad or stale else 0
    for old in golden.glob("*.txt"):
        old.unlink()
    names = render_all(golden)
    print(f"wrote {len(names)} goldens to {golden}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
