#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
# Builds the small byte-level BPE tokenizer.json fixtures under tests/tokenizer/data/ (committed).
# A plain greedy BPE trainer over seeded generated text; the vocabulary does not need to be good,
# only valid. Golden ids for these fixtures come from HF tokenizers (ref_hf.js), not from here.
#   /usr/bin/python3 tools/tokref/make_bpe_fixture.py
import collections, json, os, random, re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, 'tests', 'tokenizer', 'data')

def byte_map():
    keep = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    m, n = {}, 0
    for b in range(256):
        if b in keep:
            m[b] = chr(b)
        else:
            m[b] = chr(256 + n)
            n += 1
    return m

BM = byte_map()

def corpus(seed, lines):
    rng = random.Random(seed)
    syl = ['ka', 'lo', 'mi', 'ne', 'ru', 'sa', 'to', 'vi', 'an', 'el', 'or', 'us', 'the', 'ing', 'qu', 'st',
           'é', 'ü', 'ß', 'ñ', '日本', '語', '中文', 'я', 'да', 'שלום', 'مر']
    out = []
    for _ in range(lines):
        words = []
        for _ in range(rng.randint(3, 12)):
            w = ''.join(rng.choice(syl) for _ in range(rng.randint(1, 3)))
            r = rng.random()
            if r < 0.05: w = w.capitalize()
            elif r < 0.10: w += "'s"
            elif r < 0.15: w = str(rng.randint(0, 99999))
            elif r < 0.18: w += ','
            elif r < 0.20: w = '(' + w + ')'
            words.append(w)
        out.append(' '.join(words) + rng.choice(['.', '!', '?', '.\n', '\n\n', ' :)']))
    return '\n'.join(out)

def train(text, n_merges):
    words = collections.Counter(re.findall(r"\s?\w+|\s?[^\w\s]+|\s+", text))
    seqs = {w: [BM[b] for b in w.encode('utf-8')] for w in words}
    vocab = {BM[b]: None for b in range(256)}
    merges = []
    for _ in range(n_merges):
        pairs = collections.Counter()
        for w, c in words.items():
            s = seqs[w]
            for a, b in zip(s, s[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        (a, b), cnt = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        if cnt < 2:
            break
        merges.append((a, b))
        vocab[a + b] = None
        for w in words:
            s = seqs[w]
            i, t = 0, []
            while i < len(s):
                if i + 1 < len(s) and s[i] == a and s[i + 1] == b:
                    t.append(a + b); i += 2
                else:
                    t.append(s[i]); i += 1
            seqs[w] = t
    return {tok: i for i, tok in enumerate(vocab)}, merges

QWEN_RE = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
LLAMA3_RE = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"

def added(i, content, special, lstrip=False, rstrip=False, single_word=False, normalized=None):
    return {'id': i, 'content': content, 'single_word': single_word, 'lstrip': lstrip, 'rstrip': rstrip,
            'normalized': (not special) if normalized is None else normalized, 'special': special}

def bytelevel(apx=False, trim=False, regex=False):
    return {'type': 'ByteLevel', 'add_prefix_space': apx, 'trim_offsets': trim, 'use_regex': regex}

def model(vocab, merges, as_pairs, ignore_merges):
    return {'type': 'BPE', 'dropout': None, 'unk_token': None, 'continuing_subword_prefix': '',
            'end_of_word_suffix': '', 'fuse_unk': False, 'byte_fallback': False, 'ignore_merges': ignore_merges,
            'vocab': vocab,
            'merges': [[a, b] for a, b in merges] if as_pairs else ['%s %s' % (a, b) for a, b in merges]}

def write(name, tok, cfg):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, 'tokenizer.json'), 'w', encoding='utf-8') as f:
        json.dump(tok, f, ensure_ascii=False, indent=1)
    with open(os.path.join(d, 'tokenizer_config.json'), 'w', encoding='utf-8') as f:
        json.dump(cfg, f, ensure_ascii=False, indent=1)

def main():
    # Qwen-like: NFC, single digits, merges as pairs, ByteLevel post-processor, no BOS.
    vocab, merges = train(corpus(1, 1500), 700)
    n = len(vocab)
    toks = [added(n, '<|endoftext|>', True), added(n + 1, '<|im_start|>', True), added(n + 2, '<|im_end|>', True),
            added(n + 3, '<think>', False, normalized=False), added(n + 4, '</think>', False, normalized=False)]
    write('bpe_qwenlike', {
        'version': '1.0', 'truncation': None, 'padding': None, 'added_tokens': toks,
        'normalizer': {'type': 'NFC'},
        'pre_tokenizer': {'type': 'Sequence', 'pretokenizers': [
            {'type': 'Split', 'pattern': {'Regex': QWEN_RE}, 'behavior': 'Isolated', 'invert': False}, bytelevel()]},
        'post_processor': bytelevel(), 'decoder': bytelevel(),
        'model': model(vocab, merges, True, False)},
        {'add_bos_token': False, 'bos_token': None, 'eos_token': '<|im_end|>', 'pad_token': '<|endoftext|>',
         'tokenizer_class': 'Qwen2Tokenizer'})
    # Llama-3-like: no normalizer, 1-3 digit groups, merges as strings, ignore_merges, whole-word vocab
    # entries that merges cannot reach, TemplateProcessing BOS, added tokens with lstrip/rstrip/single_word.
    vocab, merges = train(corpus(2, 1500), 600)
    for w in ['Ġkalomi', 'Ġzyzzyva', 'ĠDON', 'Ġneruto']:
        vocab.setdefault(w, len(vocab))
    n = len(vocab)
    toks = [added(n, '<|begin_of_text|>', True), added(n + 1, '<|end_of_text|>', True),
            added(n + 2, '[MASK]', True, lstrip=True), added(n + 3, '<sep>', True, rstrip=True),
            added(n + 4, 'kalomi', False, single_word=True, normalized=False)]
    write('bpe_llama3like', {
        'version': '1.0', 'truncation': None, 'padding': None, 'added_tokens': toks,
        'normalizer': None,
        'pre_tokenizer': {'type': 'Sequence', 'pretokenizers': [
            {'type': 'Split', 'pattern': {'Regex': LLAMA3_RE}, 'behavior': 'Isolated', 'invert': False},
            bytelevel(trim=True)]},
        'post_processor': {'type': 'Sequence', 'processors': [
            bytelevel(trim=False),
            {'type': 'TemplateProcessing',
             'single': [{'SpecialToken': {'id': '<|begin_of_text|>', 'type_id': 0}}, {'Sequence': {'id': 'A', 'type_id': 0}}],
             'pair': [{'SpecialToken': {'id': '<|begin_of_text|>', 'type_id': 0}}, {'Sequence': {'id': 'A', 'type_id': 0}},
                      {'SpecialToken': {'id': '<|begin_of_text|>', 'type_id': 1}}, {'Sequence': {'id': 'B', 'type_id': 1}}],
             'special_tokens': {'<|begin_of_text|>': {'id': '<|begin_of_text|>', 'ids': [n], 'tokens': ['<|begin_of_text|>']}}}]},
        'decoder': bytelevel(apx=True, trim=True, regex=True),
        'model': model(vocab, merges, False, True)},
        {'bos_token': '<|begin_of_text|>', 'eos_token': '<|end_of_text|>', 'tokenizer_class': 'PreTrainedTokenizerFast'})
    # GPT-2 style: a lone ByteLevel pre-tokenizer with its own regex and a prefix space.
    vocab, merges = train(corpus(3, 800), 300)
    n = len(vocab)
    write('bpe_gpt2like', {
        'version': '1.0', 'truncation': None, 'padding': None,
        'added_tokens': [added(n, '<|endoftext|>', True)],
        'normalizer': None, 'pre_tokenizer': bytelevel(apx=True, trim=True, regex=True),
        'post_processor': bytelevel(apx=True, trim=False, regex=True), 'decoder': bytelevel(apx=True, trim=True, regex=True),
        'model': model(vocab, merges, False, False)},
        {'bos_token': '<|endoftext|>', 'eos_token': '<|endoftext|>', 'add_bos_token': False})

DS_SPLITS = [r"\p{N}{1,3}", "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
             r"[!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"]

def main_deepseek():
    # DeepSeek-like: several Split steps in sequence, an empty normalizer Sequence, full-width special
    # tokens, a non-special added token, TemplateProcessing BOS, config tokens written as objects.
    vocab, merges = train(corpus(4, 1000), 400)
    n = len(vocab)
    bos, eos = '<\uff5cbegin\u2581of\u2581sentence\uff5c>', '<\uff5cend\u2581of\u2581sentence\uff5c>'
    toks = [added(n, bos, True), added(n + 1, eos, True), added(n + 2, '<\uff5cUser\uff5c>', False, normalized=True),
            added(n + 3, '<\uff5cAssistant\uff5c>', False, normalized=True)]
    write('bpe_deepseeklike', {
        'version': '1.0', 'truncation': None, 'padding': None, 'added_tokens': toks,
        'normalizer': {'type': 'Sequence', 'normalizers': []},
        'pre_tokenizer': {'type': 'Sequence', 'pretokenizers': [
            {'type': 'Split', 'pattern': {'Regex': r}, 'behavior': 'Isolated', 'invert': False} for r in DS_SPLITS] +
            [bytelevel(trim=True)]},
        'post_processor': {'type': 'TemplateProcessing',
                           'single': [{'SpecialToken': {'id': bos, 'type_id': 0}}, {'Sequence': {'id': 'A', 'type_id': 0}}],
                           'pair': [{'SpecialToken': {'id': bos, 'type_id': 0}}, {'Sequence': {'id': 'A', 'type_id': 0}},
                                    {'Sequence': {'id': 'B', 'type_id': 1}}],
                           'special_tokens': {bos: {'id': bos, 'ids': [n], 'tokens': [bos]}}},
        'decoder': bytelevel(apx=True, trim=True, regex=True),
        'model': model(vocab, merges, False, False)},
        {'add_bos_token': True, 'add_eos_token': False,
         'bos_token': {'__type': 'AddedToken', 'content': bos, 'lstrip': False, 'normalized': True, 'rstrip': False, 'single_word': False},
         'eos_token': {'__type': 'AddedToken', 'content': eos, 'lstrip': False, 'normalized': True, 'rstrip': False, 'single_word': False},
         'legacy': True, 'tokenizer_class': 'LlamaTokenizerFast'})

if __name__ == '__main__':
    main_deepseek()
    main()
