#!/usr/bin/env python3
"""Hugging Face `tokenizers` as the peer of tinylab's byte-level BPE (transformers/src/data/bpe).

(a) Loads the merges tinylab trained (vocab_N.json + merges_N.txt, GPT-2 byte spelling, tinylab's
    ids) into `tokenizers.ByteLevelBPETokenizer` (ByteLevel pre-tokenizer with GPT-2's regex,
    add_prefix_space=False, ByteLevel decoder) and encodes the fixed strings below; the ids are the
    fixture that transformers/tests/bpe_hf.rs compares tinylab's encoder with.
(b) Trains HF's own BPE (ByteLevelBPETokenizer.train_from_iterator on the whole text as one
    sequence, same vocabulary size, min_frequency 2, no
    special tokens) on the same text and counts how many of its merges equal tinylab's: in order
    (the longest common prefix of the two merge lists) and as sets. HF's merges go into the
    fixture too ("left right", GPT-2 spelling, rank order), and the Rust test asserts that
    tinylab's trainer learns exactly them (its tie-break is HF's).
(c) Trains HF on six small seeded random texts (vocabulary 296, min_frequency 1), where ties
    between equally frequent pairs are everywhere, and stores its merges: the Rust test asserts
    tinylab learns the same ones.

Regenerate the committed fixture (peers venv with `tokenizers`):

    cargo run --release -p tinylab-transformers --example bpe_export -- /tmp/bpe 0 1024
    ~/.cache/tinylab-peers/bin/python benches/peers/bpe_peer.py /tmp/bpe 1024 \
        transformers/tests/fixtures/bpe_hf.json
"""

import json
import os
import random
import sys

import tokenizers
from tokenizers import ByteLevelBPETokenizer

CASES = [
    "To be, or not to be: that is the question:",
    "HAMLET. O, that this too too solid flesh would melt,\nThaw, and resolve itself into a dew!",
    "I'm sure you're right; we'll see, they've gone, he'd know, 'tis Tom's.",
    "Enter   KING CLAUDIUS,  QUEEN GERTRUDE,\tHAMLET\n\n\n  and others.   ",
    "In 1603, 42 players & 7 clowns spent 3.50 shillings (or £2) -- 100%?!",
    "naïve café résumé Ærø Straße Ελληνικά русский 日本語 한국어 العربية",
    "emoji 😀👍🏽 and \u00a0no-break\u3000ideographic\u2003em space",
    "   leading spaces and trailing tabs\t\t",
    "''quoted'' \"double\" `back` ''s 'S 'll 'LL",
    "x",
    "",
]

# Seeded random strings over pieces that exercise every branch of the GPT-2 split: letters of
# several scripts, digits (ASCII, Arabic-Indic Nd, fraction No, Roman numeral Nl), contractions,
# apostrophes, punctuation, and whitespace runs (space, tab, newline, no-break, ideographic).
PIECES = list("abcXYZ019 \n\t'.,;:!?-\"()") + ["'s", "'ll", "'re", "'T", "  ", "\n\n", " \n", "the", " The",
    "é", "ß", "Ж", "日語", "😀", "\u00a0", "\u3000", "½", "٣", "Ⅻ", "£", "Tom's", "\r\n"]
RNG = random.Random(18)
CASES += ["".join(RNG.choice(PIECES) for _ in range(RNG.randrange(1, 40))) for _ in range(40)]


def hf_merges(tok):
    merges = json.loads(tok.to_str())["model"]["merges"]
    return [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in merges]


def main():
    src, size, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    vocab, merges = os.path.join(src, f"vocab_{size}.json"), os.path.join(src, f"merges_{size}.txt")
    ours = ByteLevelBPETokenizer(vocab, merges)
    cases = []
    for text in CASES:
        ids = ours.encode(text).ids
        assert ours.decode(ids) == text, (text, ours.decode(ids))
        cases.append({"text": text, "ids": ids})

    with open(merges, encoding="utf-8") as f:
        our_merges = [tuple(line.rstrip("\n").split(" ", 1)) for line in f if not line.startswith("#version")]
    with open(os.path.join(src, "corpus.txt"), encoding="utf-8") as f:
        corpus = f.read()
    hf = ByteLevelBPETokenizer()
    # One sequence, as tinylab sees the text: `train(files)` would feed the file line by line, so
    # no pre-token would span a newline ("\n\n" or " \n" at a line's end differ).
    hf.train_from_iterator([corpus], vocab_size=size, min_frequency=2, show_progress=False, special_tokens=[])
    theirs = hf_merges(hf)
    prefix = 0
    while prefix < min(len(ours_m := our_merges), len(theirs)) and ours_m[prefix] == theirs[prefix]:
        prefix += 1
    common = len(set(our_merges) & set(theirs))
    corpus_chars = len(corpus)
    fixture = {
        "peer": f"tokenizers {tokenizers.__version__} ByteLevelBPETokenizer",
        "corpus_chars": corpus_chars,
        "vocab_size": size,
        "min_frequency": 2,
        "cases": cases,
        "hf_training": {
            "our_merges": len(our_merges),
            "hf_merges": len(theirs),
            "same_prefix": prefix,
            "same_set": common,
            "hf_vocab_size": hf.get_vocab_size(),
        },
        "hf_merges": [" ".join(m) for m in theirs],
    }
    # (c) Ties: small seeded random texts, where many pairs are equally frequent, trained by HF with
    # min_frequency 1; tinylab must learn the same merges.
    small = []
    for k in range(6):
        text = "".join(RNG.choice(PIECES) for _ in range(RNG.randrange(50, 400)))
        t = ByteLevelBPETokenizer()
        t.train_from_iterator([text], vocab_size=256 + 40, min_frequency=1, show_progress=False, special_tokens=[])
        small.append({"text": text, "vocab_size": 256 + 40, "min_frequency": 1,
                      "vocab_size_reached": t.get_vocab_size(), "merges": [" ".join(m) for m in hf_merges(t)]})
    fixture["small_trainings"] = small

    # One case per line (text and ids), the rest indented.
    cases_json = ",\n  ".join(json.dumps(c, ensure_ascii=False) for c in fixture.pop("cases"))
    body = json.dumps(fixture, ensure_ascii=False, indent=1)
    with open(out, "w", encoding="utf-8") as f:
        f.write(body[:-2] + ',\n "cases": [\n  ' + cases_json + "\n ]\n}\n")
    print(json.dumps(fixture["hf_training"]))


if __name__ == "__main__":
    main()
