"""The tokenization shortcuts in textstats against plain spaCy (what datatrove's `split_into_words` runs).

Each shortcut (chunk cache, plain-word bypass, special-case windows, lean lexemes) must give exactly the
tokens a fresh `spacy.blank("en")` gives for the whole text; the oracle here is that pipeline itself.
"""

from __future__ import annotations

import pytest

from infir.curation.filters import textstats

from .realtext import web_docs
from .spacy_oracle import check_random_dense_texts, spacy_words

spacy = pytest.importorskip("spacy")


@pytest.fixture(scope="module")
def reference():
    """A stock blank English tokenizer (default lexeme getters, no shortcuts)."""
    return spacy.blank("en")


def test_plain_word_bypass_matches_spacy_on_real_chunks_and_every_special_case(reference):
    chunks = {c for d in web_docs(500) for c in d["text"].split()}
    rules = set(reference.tokenizer.rules)
    # every special case, bare and with each trailing punctuation the bypass accepts
    chunks |= rules | {r + p for r in rules for p in ".,;:!?"}
    checked = 0
    for chunk in sorted(chunks):
        got = textstats._plain_tokens(chunk)
        if got is not None:
            checked += 1
            assert list(got) == spacy_words(reference, chunk), chunk
    assert checked > 5000  # the bypass must actually serve most real chunks


def test_split_words_matches_whole_text_spacy_on_real_docs(reference):
    textstats.clear_caches()
    for doc in web_docs(500):
        assert textstats.split_words(doc["text"]) == spacy_words(reference, doc["text"]), doc["id"]


def test_special_case_windows_match_whole_text_spacy(reference):
    """Random texts dense in special cases split across spaces: where a cross-space match blocks one."""
    # the texts must exercise the in-place window path
    assert check_random_dense_texts(reference, seed=0, texts=4000, max_parts=12) > 300


def test_lean_lexemes_keep_token_texts_and_flags(reference):
    text = "\n\n".join(d["text"] for d in web_docs(500)[:150]) + " 'Tis  ... -- :-) U.S. \u2009 ¿Qué? 3.5%"
    with textstats.memory_zone(), reference.memory_zone():
        ours = [(t.text, t.is_space, t.is_punct) for t in textstats.nlp().tokenizer(text)]
        ref = [(t.text, t.is_space, t.is_punct) for t in reference.tokenizer(text)]
    assert ours == ref
    # spaCy's shared defaults keep every getter
    assert len(spacy.blank("en").vocab.lex_attr_getters) > len(textstats.nlp().vocab.lex_attr_getters)


def test_memory_zone_nests():
    vocab = textstats.nlp().vocab
    with textstats.memory_zone():
        with textstats.memory_zone():
            textstats.split_words("an inner call must not end the outer zone")
        assert vocab.in_memory_zone
    assert not vocab.in_memory_zone


def test_count_sentences_matches_datatrove():
    """The oracle is datatrove's own count (C4's `len(split_into_sentences(line))`), on real lines as they
    come, stripped as C4 strips them, and with the whitespace a citation removal leaves behind."""
    from datatrove.utils.text import split_into_sentences

    lines = [line for doc in web_docs(500)[::5] for line in doc["text"].splitlines()[:20]]
    lines += [line.strip() + suffix for line in lines[:200] for suffix in ("  ", " \t", "")]
    lines += [
        "Hello world.  ",
        "Hi!  There.  ",
        "One. \n",
        "   ",
        "",
        "A b.  C d.   ",
        "Wait... what?!  Yes.",
    ]
    differing = 0
    for line in lines:
        expected = len(split_into_sentences(line, "en"))
        assert textstats.count_sentences(line) == expected, repr(line)
        differing += expected != len([s for s in split_into_sentences(line.strip(), "en") if s.strip()])
    assert differing > 10  # the whitespace cases are really there (the old count missed exactly these)
