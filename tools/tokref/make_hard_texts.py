#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
# Writes tools/tokref/hard_texts.json: the hard inputs both reference scripts tokenize.
import json, os

TEXTS = [
    "Hello world", "Hello, world! How are you?", "",
    " ", "   ", "\t", "\n", "\r\n", "a  b   c    d", "  leading spaces", "trailing spaces   ",
    "tabs\tbetween\twords", "line1\r\nline2\r\n\r\nline4", "many\n\n\n\nnewlines", "mixed \t \n \r\n ws",
    "1234567890", "3.14159", "12,345.67 and 0.5%", "year 2024: 365 days", "007 and 1e-10",
    "I'm sure they'll say DON'T, we've, you'd, it's, she's", "I'M SHOUTING", "O'Neil's dog's bone",
    "👩‍👩‍👧‍👦 family", "👍🏽 thumbs", "🇩🇪🇯🇵 flags", "emoji😀in😀text", "❤️ love",
    "日本語のテキスト", "中文分词测试，你好。", "한국어 텍스트", "Привет, мир!", "Ελληνικά",
    "e\u0301 vs \u00e9", "cafe\u0301 na\u00efve", "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349\u035a\u032f\u031e\u0320\u034dalgo",
    "\u1100\u1161\u11a8 jamo", "Å vs A\u030a", "\u0915\u094d\u0937 hindi",
    "مرحبا بالعالم", "שלום עולם", "mixed עברית and English",
    "<|begin_of_text|>Hello", "<|endoftext|>", "text <|im_start|>user\nhi<|im_end|>", "<s>Hello</s>",
    "a<s>b</s>c", "<|end_of_text|> <|eot_id|>", "<think>reasoning</think>", "<|im_start|><|im_start|>",
    "not <|special|> really", "<unk> token",
    "supercalifragilisticexpialidocious", "pneumonoultramicroscopicsilicovolcanoconiosis" * 3,
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "for(i=0;i<10;i++){}", "def f(x):\n    return x**2  # square\n", "if (a && b || !c) { x->y = *p; }",
    "https://example.com/path?q=1&r=two#frag", "user@example.org", "C:\\Windows\\System32",
    "\u00a0non-breaking\u00a0space", "zero\u200bwidth", "\u3000ideographic space", "\u2028line sep",
    "a [MASK] b", "a   [MASK]   b", "x <sep>   y", "kalomi kalomis xkalomi (kalomi).", "the zyzzyva DON neruto kalomi",
    "Don't DON'T don't", "<\uff5cbegin\u2581of\u2581sentence\uff5c><\uff5cUser\uff5c>2+2?<\uff5cAssistant\uff5c>", "\u00a0\u00a0", "\r\r\n\n", " \n \n", "!!!???...", "--- *** ===", "½ ² ﬁ ligature",
    "\t\t\u180e\u180eX", "x \u180e y\u180e", "I'\u017f it'\u212a", "\u1680\u2000\u202f\u205f gaps", "ｆｕｌｌｗｉｄｔｈ", "Ⅻ roman", "\U0001d400 math bold",
]

# Seeded random strings from pieces that stress the pre-tokenizer regexes and special-token matching.
PIECES = (list("abcXYZ019 _'.,;:!?-()[]{}<>|/\\\"") + [" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000",
          "'s", "'LL", "n't", "<|", "|>", "<s>", "</s>", "<|endoftext|>", "<|im_start|>", "<|begin_of_text|>",
          "<think>", "[MASK]", "<\uff5cUser\uff5c>", "<\uff5cend\u2581of\u2581sentence\uff5c>", "<sep>", "kalomi", "e\u0301", "\u0308", "\u0327", "\u00e9", "\u00df", "\u0130", "\u212b",
          "\u65e5\u672c", "\u4e2d", "\u3053\u3093", "\ud55c", "\u0645\u0631", "\u05e9", "\u0928\u093f",
          "\U0001f600", "\U0001f469\u200d\U0001f467", "\U0001f44d\U0001f3fd", "\u2764\ufe0f", "\u200b", "\ufeff", "\u180e", "\u2060",
          "123", "4567", "3.14", "\u0663\u0664", "\uff11\uff12", "\u00bd", "\U0001d400", "http://a.b/c?d=e"])

def random_texts(n, seed):
    import random
    rng = random.Random(seed)
    return [''.join(rng.choice(PIECES) for _ in range(rng.randint(1, 14))) for _ in range(n)]

def main():
    texts = TEXTS + random_texts(120, 20240521)
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, 'hard_texts.json'), 'w', encoding='utf-8') as f:
        json.dump(texts, f, ensure_ascii=True, indent=0)

if __name__ == '__main__':
    main()
