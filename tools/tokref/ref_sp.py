#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
# Golden ids for SentencePiece .model files from Python sentencepiece (Debian python3-sentencepiece).
# Usage: /usr/bin/python3 tools/tokref/ref_sp.py [SHARED_DIR]   (default ../shared beside the checkout)
# Writes tests/tokenizer/golden/<name>.json. The .model files themselves are never copied.
#
# Special-token text (split_special=false) follows HF's slow LlamaTokenizer (legacy): the text is
# cut at the control pieces (<s>, </s>) and <unk>, and each remaining segment is encoded on its own.
import json, os, re, sys
import sentencepiece as spm

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SHARED = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(ROOT), 'shared')
SPECS = [('llama2', 'tokenizers/llama2'), ('stories260k', 'models/stories260K')]

def main():
    texts = json.load(open(os.path.join(HERE, 'hard_texts.json'), encoding='utf-8'))
    out_dir = os.path.join(ROOT, 'tests', 'tokenizer', 'golden')
    os.makedirs(out_dir, exist_ok=True)
    for name, rel in SPECS:
        path = os.path.join(SHARED, rel, 'tokenizer.model')
        if not os.path.exists(path):
            print('skip %s: %s absent' % (name, path), file=sys.stderr)
            continue
        sp = spm.SentencePieceProcessor(model_file=path)
        specials = [sp.id_to_piece(i) for i in range(sp.get_piece_size()) if sp.is_control(i) or sp.is_unknown(i)]
        specials = sorted(set(s for s in specials if s), key=len, reverse=True)
        pat = re.compile('(' + '|'.join(re.escape(s) for s in specials) + ')')
        bos = sp.bos_id()
        cases = []
        for t in texts:
            plain = sp.encode(t)
            split_ids = []
            for seg in pat.split(t):
                if not seg:
                    continue
                if seg in specials:
                    split_ids.append(sp.piece_to_id(seg))
                else:
                    split_ids.extend(sp.encode(seg))
            cases.append({
                'text': t,
                'ids_plain': split_ids,
                'ids_special': [bos] + split_ids,
                'ids_split_special': plain,
                'tokens_plain': [sp.id_to_piece(i) for i in split_ids],
                'decoded_split_special': sp.decode(plain),
            })
        golden = {'tokenizer': name, 'base': 'shared', 'path': rel + '/tokenizer.model',
                  'reference': 'python sentencepiece %s, tools/tokref/ref_sp.py' % spm.__version__,
                  'vocab_size': sp.get_piece_size(), 'bos_id': bos, 'eos_id': sp.eos_id(), 'cases': cases}
        with open(os.path.join(out_dir, name + '.json'), 'w', encoding='utf-8') as f:
            json.dump(golden, f, ensure_ascii=True, separators=(',', ':'))
            f.write('\n')
        print('wrote %s: %d cases' % (name, len(cases)), file=sys.stderr)

if __name__ == '__main__':
    main()
