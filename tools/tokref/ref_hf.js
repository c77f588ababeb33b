#!/usr/bin/env node
// SPDX-License-Identifier: GPL-3.0-or-later
// Golden ids for byte-level BPE tokenizer.json files from Hugging Face's own Rust tokenizers
// (npm package `tokenizers`; install with `npm install --no-save tokenizers` under tools/).
// Usage: node tools/tokref/ref_hf.js [SHARED_DIR]   (default ../shared beside the checkout)
// Writes tests/tokenizer/golden/<name>.json. Tokenizer files themselves are never copied.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { Tokenizer } = require('tokenizers');

const ROOT = path.resolve(__dirname, '..', '..');
const SHARED = process.argv[2] || path.resolve(ROOT, '..', 'shared');
const TEXTS = JSON.parse(fs.readFileSync(path.join(__dirname, 'hard_texts.json'), 'utf8'));
const OUT = path.join(ROOT, 'tests', 'tokenizer', 'golden');

const SPECS = [
  { name: 'llama3', base: 'shared', rel: 'tokenizers/llama3' },
  { name: 'qwen3', base: 'shared', rel: 'tokenizers/qwen3' },
  { name: 'bpe_qwenlike', base: 'tests', rel: 'tokenizer/data/bpe_qwenlike' },
  { name: 'bpe_llama3like', base: 'tests', rel: 'tokenizer/data/bpe_llama3like' },
  { name: 'bpe_gpt2like', base: 'tests', rel: 'tokenizer/data/bpe_gpt2like' },
  { name: 'bpe_deepseeklike', base: 'tests', rel: 'tokenizer/data/bpe_deepseeklike' },
];

function tokenContent(v) {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return v;
  return v.content ?? null;
}

async function ids(tok, text, addSpecial) {
  const e = await tok.encode(text, null, { addSpecialTokens: addSpecial });
  return e.getIds();
}

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  const version = require('tokenizers/package.json').version;
  for (const spec of SPECS) {
    const dir = spec.base === 'shared' ? path.join(SHARED, spec.rel) : path.join(ROOT, 'tests', spec.rel);
    const file = path.join(dir, 'tokenizer.json');
    if (!fs.existsSync(file)) { console.error(`skip ${spec.name}: ${file} absent`); continue; }
    const tok = Tokenizer.fromFile(file);
    const json = JSON.parse(fs.readFileSync(file, 'utf8'));
    // split_special reference: the same tokenizer with the text of its special added tokens replaced
    // by private-use strings that never occur, so their text reaches the model as plain text (HF
    // encode_special_tokens=True) while every id stays where it was.
    const stripped = {
      ...json,
      added_tokens: json.added_tokens.map((a) => (a.special ? { ...a, content: `\uE000\uE001${a.id}\uE002` } : a)),
    };
    const tmp = path.join(os.tmpdir(), `tokref-${process.pid}-${spec.name}.json`);
    fs.writeFileSync(tmp, JSON.stringify(stripped));
    const tokSplit = Tokenizer.fromFile(tmp);
    fs.unlinkSync(tmp);

    // Project policy for add_special (documented in core/src/tokenizer/bpe.cpp): the post-processor's
    // template when it adds tokens; else tokenizer_config.json add_bos_token, defaulting to "add the
    // configured bos_token if any"; add_eos_token likewise (default false).
    const cfgFile = path.join(dir, 'tokenizer_config.json');
    const cfg = fs.existsSync(cfgFile) ? JSON.parse(fs.readFileSync(cfgFile, 'utf8')) : {};
    const bosTok = tokenContent(cfg.bos_token), eosTok = tokenContent(cfg.eos_token);
    const bosId = bosTok !== null ? tok.tokenToId(bosTok) : null;
    const eosId = eosTok !== null ? tok.tokenToId(eosTok) : null;
    const probePlain = await ids(tok, 'x', false), probeSpecial = await ids(tok, 'x', true);
    const postAdds = JSON.stringify(probePlain) !== JSON.stringify(probeSpecial);
    const addBos = !postAdds && (cfg.add_bos_token ?? (bosId !== null)) && bosId !== null;
    const addEos = !postAdds && (cfg.add_eos_token ?? false) && eosId !== null;

    const cases = [];
    for (const text of TEXTS) {
      const plain = await ids(tok, text, false);
      const hf = await ids(tok, text, true);
      const special = postAdds ? hf : [...(addBos ? [bosId] : []), ...plain, ...(addEos ? [eosId] : [])];
      const split = await ids(tokSplit, text, false);
      cases.push({
        text,
        ids_plain: plain,
        ids_special: special,
        ids_split_special: split,
        tokens_plain: plain.map((i) => tok.idToToken(i)),
        decoded: await tok.decode(plain, false),
        decoded_special_skipped: await tok.decode(special, true),
      });
      // Token by token (partial UTF-8 sequences decode to U+FFFD), for the hand-picked texts.
      if (cases.length <= 90) {
        const each = [];
        for (const id of plain) each.push(await tok.decode([id], false));
        cases[cases.length - 1].decoded_each = each;
      }
    }
    const golden = {
      tokenizer: spec.name,
      base: spec.base,
      path: spec.rel,
      reference: `HF tokenizers (npm tokenizers ${version}), tools/tokref/ref_hf.js`,
      vocab_size: tok.getVocabSize(true),
      bos_id: postAdds ? probeSpecial[0] : bosId,
      eos_id: eosId,
      post_processor_adds: postAdds,
      cases,
    };
    fs.writeFileSync(path.join(OUT, `${spec.name}.json`), JSON.stringify(golden, null, 0) + '\n');
    console.error(`wrote ${spec.name}: ${cases.length} cases (vocab ${golden.vocab_size}, bos ${golden.bos_id}, post adds ${postAdds})`);
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
