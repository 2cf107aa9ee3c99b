"""Plain spaCy as the oracle for textstats' tokenizer shortcuts (shared by the oracle and rules tests)."""

from __future__ import annotations

import random

import spacy

from infir.curation.filters import textstats


def spacy_words(ref, text: str) -> list[str]:
    """datatrove's SpaCyTokenizer.word_tokenize: stripped, non-empty token texts of the whole text."""
    with ref.memory_zone():
        return [s for s in (t.text.strip() for t in ref.tokenizer(text)) if s]


def check_random_dense_texts(ref, seed: int, texts: int, max_parts: int) -> int:
    """Random texts dense in multi-token special cases and their pieces, mostly single-spaced (only a single
    space lets a match cross chunks): split_words must equal spaCy on each. Returns how many had a window."""
    plain = spacy.blank("en").tokenizer
    plain.rules = {}
    # rules only spaCy's matcher applies (affix splitting cuts them), and the tokens they are cut into
    multi = [r for r in ref.tokenizer.rules if len(plain(r)) > 1]
    pieces = multi + [t.text for r in multi for t in plain(r)] + ["item.", "m.", "x", "Dont", "a.m."]
    rng = random.Random(seed)
    textstats.clear_caches()
    windows = 0
    for _ in range(texts):
        parts = [rng.choice(pieces) for _ in range(rng.randint(2, max_parts))]
        text = "".join(p + rng.choice([" ", " ", " ", "", "\n"]) for p in parts)
        windows += bool(textstats._special_windows(text))
        assert textstats.split_words(text) == spacy_words(ref, text), repr(text)
    return windows
