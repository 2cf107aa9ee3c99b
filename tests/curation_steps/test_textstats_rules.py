"""textstats' pieces one by one against their oracles, sized to run in seconds (test_textstats_oracle.py runs
the same comparisons on 500 real documents): words against plain spaCy, the duplicate counters against
datatrove's own functions, sentences against datatrove's split, the trie regex, overlapping risk spans,
the chunk cache's bound and the per-document cache."""

from __future__ import annotations

import re

import pytest

from infir.curation.filters import textstats
from infir.curation.filters.textstats import TextStats, all_dup_chars, count_sentences, dups, split_words

from .realtext import web_docs
from .spacy_oracle import check_random_dense_texts, spacy_words

spacy = pytest.importorskip("spacy")
gopher = pytest.importorskip("datatrove.pipeline.filters.gopher_repetition_filter")


@pytest.fixture(scope="module")
def reference():
    return spacy.blank("en")


UGLY = [
    "Dont go.  Dr. Who's there?! It's 3.5% of $1,000 -- U.S. a.m. :-) ''quoted'' ``x''",
    "e.g. i.e. etc. vs. Mr. Mrs. can't won't y'all 'Tis gonna  \t\n\n  ok...",
    "''  x  :-)  ''  (  ) :- ) : - )  \u2009 ¿Qué? naïve café — “quotes” «guillemets»",
    "",
    "   \n\t ",
    "word",
    "a.b.c. 10km 5pm 6:30pm https://example.com/path?q=1 user@example.com #tag @name",
]


def test_trie_regex_matches_exactly_its_words():
    words = {"a", "ab", "abc", "b.", "x y", "''", "cat", "car"}  # "ca" has exactly two continuations
    pattern = re.compile(textstats._trie_regex(words))
    for w in words:
        assert pattern.fullmatch(w), w
    for w in ("", "abcd", "b", "ba", "x", "xy", "'", "ca", "cab"):
        assert not pattern.fullmatch(w), w
    assert textstats._trie_regex(set()) == ""


def test_cross_chunk_patterns_hold_spaced_pieces_of_multi_token_rules_only(reference):
    risk, multi = textstats._cross_chunk_patterns()
    plain = spacy.blank("en").tokenizer
    plain.rules = {}
    rules = reference.tokenizer.rules
    split = [r for r in rules if len(plain(r)) > 1]
    whole = [r for r in rules if len(plain(r)) == 1]
    assert len(split) > 100 and len(whole) > 100
    assert all(multi.fullmatch(r) for r in split)
    assert not any(multi.fullmatch(r) for r in whole)  # "Dont": spaCy's own matcher never needs it
    # a risk is a rule cut at one or more of its token boundaries by a space, never the rule itself
    assert not any(risk.fullmatch(r) for r in split)
    assert risk.fullmatch("'' ") is None and risk.fullmatch(": -)") and risk.fullmatch(":- )")
    assert risk.search("The cat sat on the mat. Hello, world! It is 5 p.m. now") is None
    # every way of cutting a multi-token rule at its token boundaries with spaces is a risk
    for rule in split:
        parts = [t.text for t in plain(rule)]
        for cuts in range(1, 2 ** (len(parts) - 1)):
            piece = parts[0] + "".join((" " if cuts >> j & 1 else "") + p for j, p in enumerate(parts[1:]))
            assert risk.fullmatch(piece), (rule, piece)


#: texts where spaCy's special-case matcher acts across a space (`' ''` read as one `''` match, which then
#: blocks the in-chunk `''` of the next chunk): tokenizing chunk by chunk alone gets these wrong
ACROSS_A_SPACE = [
    "x' ''y",
    "x'' ''y",
    "x' ''y z",
    "' ''y:''''",
    "(:'' ''s-``",
    ")a .' ''.(",
    ".' '')a.y",
    "y'' ''-",
    "plain words first, then x' ''y and more plain words",
]


def test_special_case_windows_where_chunks_alone_go_wrong(reference):
    textstats.clear_caches()
    for text in ACROSS_A_SPACE:
        by_chunk: list[str] = []
        with textstats.memory_zone():
            textstats._chunk_words(text.split(), by_chunk)
        expected = spacy_words(reference, text)
        assert by_chunk != expected, text  # the case needs its window
        assert split_words(text) == expected, text
    assert textstats._special_windows("x' ''y") == [(0, 6)]
    assert textstats._special_windows("a b x' ''y c x'' ''y d") == [(4, 10), (13, 20)]
    assert textstats._special_windows("'' '' ''") == [(0, 8)]  # overlapping risks merge into one window
    assert textstats._special_windows("plain text only") == []


def test_risk_spans_include_matches_inside_others():
    pattern = re.compile("aba|b")
    assert list(textstats._risk_spans(pattern, "xabax")) == [(1, 4), (2, 3)]
    assert list(textstats._risk_spans(pattern, "bb")) == [(0, 1), (1, 2)]
    assert list(textstats._risk_spans(pattern, "none")) == []


def test_the_plain_word_bypass_serves_plain_words_only():
    assert textstats._plain_tokens("hello") == ("hello",)
    assert textstats._plain_tokens("hello,") == ("hello", ",")
    assert textstats._plain_tokens("Hello!") == ("Hello", "!")
    for chunk in ("HELLO", "hello!!", "it's", "Dont", "Dr.", "a1", "", "x.y"):
        assert textstats._plain_tokens(chunk) is None, chunk


def test_text_stats_tokenize_once():
    stats = TextStats("one two, three")
    assert stats.words == ["one", "two", ",", "three"]
    assert stats.words is stats.words
    assert stats.text == "one two, three"


def test_the_chunk_cache_is_bounded(monkeypatch, reference):
    textstats.clear_caches()
    split_words("one two three")
    assert set(textstats._CHUNK_CACHE) == {"one", "two", "three"}
    monkeypatch.setattr(textstats, "CACHE_LIMIT", 4)
    assert split_words("four five") == ["four", "five"]  # 3 + 2 > 4: cleared first, then filled
    assert set(textstats._CHUNK_CACHE) == {"four", "five"}
    assert split_words("six") == ["six"]  # 2 + 1 <= 4: kept
    assert set(textstats._CHUNK_CACHE) == {"four", "five", "six"}
    textstats.clear_caches()
    assert textstats._CHUNK_CACHE == {}
    split_words("one")
    split_words("a b c d")  # 1 + 4 > 4: cleared first
    assert set(textstats._CHUNK_CACHE) == {"a", "b", "c", "d"}


def test_the_duplicate_count_stops_once_past_the_fraction():
    words = ["ab"] * 20  # every 2-gram after the first repeats
    joined, offsets = "".join(words), list(range(0, 41, 2))
    full = all_dup_chars(joined, offsets, 2, 40, 1.0)
    assert full == gopher.find_all_duplicate(words, 2) == 36
    early = all_dup_chars(joined, offsets, 2, 40, 0.1)  # stops at the first count above 4 chars
    assert early == 8 and early / 40 > 0.1
    assert all_dup_chars(joined, offsets, 2, 40, 0.2) == 12  # 8 / 40 is not above 0.2, 12 / 40 is
    assert dups(["a", "bb", "a", "bb", "a", "c"]) == (3, 4)


def test_duplicate_counters_equal_datatroves(reference):
    texts = [d["text"] for d in web_docs(20)] + ["a b a b a b a b c", "x x x x x x", "one"]
    for text in texts:
        words = split_words(text)
        lines = text.split("\n")
        assert dups(lines) == gopher.find_duplicates(lines)
        joined = "".join(words)
        offsets = [0]
        for w in words:
            offsets.append(offsets[-1] + len(w))
        for n in (2, 3, 5, 10):
            # frac 1.0: never stops early, so the full count
            assert all_dup_chars(joined, offsets, n, max(len(text), 1), 1.0) == gopher.find_all_duplicate(
                words, n
            )


def test_sentences_equal_datatroves():
    from datatrove.utils.text import split_into_sentences

    lines = [line for d in web_docs(10) for line in d["text"].splitlines()[:8]]
    lines += ["Hello world.  ", "Hi!  There.  ", "One. \n", "   ", "", "A b.  C d.   ", "Wait... what?!  Yes.",
              "No end", "Dr. Who. Yes", "!!", "x . . y"]  # fmt: skip
    for line in lines:
        assert count_sentences(line) == len(split_into_sentences(line, "en")), repr(line)


def test_special_case_windows_on_random_dense_text(reference):
    assert check_random_dense_texts(reference, seed=1, texts=500, max_parts=10) > 30


def test_words_equal_spacys_on_ugly_and_real_text(reference):
    textstats.clear_caches()
    for text in UGLY + [d["text"] for d in web_docs(12)]:
        assert split_words(text) == spacy_words(reference, text), repr(text[:80])
    # again from the warm cache (every chunk seen): the same words
    for text in UGLY:
        assert split_words(text) == spacy_words(reference, text)
