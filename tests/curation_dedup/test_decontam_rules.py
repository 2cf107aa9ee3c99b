"""Decontamination's rules on small hand-made indexes (curation/decontam.py): the n-gram length at its edge,
n-grams that would straddle two documents of a batch, min_hits at its edge, which items a dropped document
names, items shorter than an n-gram, the informative-word rule, the background stoplist and what the index
file records. test_decontam.py runs the real HumanEval index and the CLI; these are fast and exact."""

from __future__ import annotations

import json

import numpy as np
import pytest

from infir.config import ConfigError
from infir.curation.decontam import (
    MIN_WORDS,
    Decontaminate,
    background_ngrams,
    save_index,
    short_item_keys,
    stdlib_background,
)
from infir.curation.dedup.store import batch_ngrams

ITEM_A = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima"  # 12 words
ITEM_B = "november oscar papa quebec romeo sierra tango uniform victor whiskey"  # 10 words
SHORT = "sum of squares of the first numbers"  # 7 words: shorter than the 10-gram


def index(tmp_path, items, ngram=10, background=None, name="idx.npz"):
    path = tmp_path / name
    meta = save_index(path, items, ngram, {"benchmarks": ["test"]}, background)
    return path, meta


def step(path, **kw) -> Decontaminate:
    return Decontaminate(Decontaminate.Config(index=str(path), **kw))


def words(text, i, n):
    return " ".join(text.split()[i : i + n])


def test_ten_shared_words_drop_a_document_and_nine_do_not(tmp_path):
    path, _ = index(tmp_path, [("bench/a", ITEM_A), ("bench/b", ITEM_B)])
    s = step(path)
    docs = [
        {"id": "ten", "text": "lead in " + words(ITEM_A, 2, 10) + " and out"},
        {"id": "nine", "text": "lead in " + words(ITEM_A, 2, 9) + " and out"},
        {"id": "b", "text": ITEM_B.upper().replace(" ", ",\n")},
        {"id": "both", "text": ITEM_B + " . " + ITEM_A},
    ]
    assert s.filter_batch(docs) == ["benchmark_contamination", None, "benchmark_contamination",
                                    "benchmark_contamination"]  # fmt: skip
    assert docs[0]["_decontam_hits"] == ["bench/a"] and "_decontam_hits" not in docs[1]
    assert docs[2]["_decontam_hits"] == ["bench/b"] and docs[3]["_decontam_hits"] == ["bench/a", "bench/b"]
    assert s.ngram == 10


def test_an_ngram_across_two_documents_of_a_batch_is_no_match(tmp_path):
    path, _ = index(tmp_path, [("bench/a", ITEM_A)])
    docs = [{"id": "1", "text": "x " + words(ITEM_A, 0, 5)}, {"id": "2", "text": words(ITEM_A, 5, 5) + " y"}]
    assert step(path).filter_batch(docs) == [None, None]
    # the same words in one document match; a batch of one works too (filter)
    one = {"id": "3", "text": docs[0]["text"] + " " + docs[1]["text"]}
    assert step(path).filter(one) == "benchmark_contamination"


def test_min_hits_counts_shared_ngrams(tmp_path):
    path, _ = index(tmp_path, [("bench/a", ITEM_A)])
    text = "pre " + ITEM_A  # 12 words of the item: 3 of its 10-grams
    assert step(path, min_hits=3).filter({"id": "d", "text": text}) == "benchmark_contamination"
    assert step(path, min_hits=4).filter({"id": "d", "text": text}) is None
    assert step(path, min_hits=2, hits_field="why").filter(doc := {"id": "d", "text": text}) is not None
    assert doc["why"] == ["bench/a"]


def test_items_shorter_than_an_ngram_match_as_a_whole(tmp_path):
    path, meta = index(tmp_path, [("bench/a", ITEM_A), ("bench/s", SHORT), ("bench/t", "x = 1 + y")])
    assert meta["short_items"] == 1 and meta["items_without_ngrams"] == ["bench/t"]
    s = step(path)
    docs = [
        {"id": "whole", "text": "we compute the " + SHORT.title() + " today"},
        {"id": "part", "text": "we compute the " + words(SHORT, 0, 6)},
        {"id": "split", "text": words(SHORT, 0, 3)},
        {"id": "rest", "text": words(SHORT, 3, 4)},
        {"id": "three", "text": "so x = 1 + y"},
    ]
    assert s.filter_batch(docs) == ["benchmark_contamination", None, None, None, None]
    assert docs[0]["_decontam_hits"] == ["bench/s"]
    # a short-item hit and an n-gram hit both count towards min_hits
    both = {"id": "both", "text": SHORT + " then " + words(ITEM_A, 0, 10)}
    assert step(path, min_hits=2).filter(both) == "benchmark_contamination"
    assert both["_decontam_hits"] == ["bench/a", "bench/s"]
    assert step(path, min_hits=3).filter({"id": "x", "text": both["text"]}) is None


def test_short_items_need_three_informative_words():
    texts = ["a b c d e", "x 12 34 yy zz ww", "one two three", "1 2 3 4", "x 12 yy zz", ITEM_A]
    h, items, k = short_item_keys(texts, 10)
    # single letters and digit runs are not informative; ITEM_A is long enough for n-grams
    assert items.tolist() == [1, 2] and k.tolist() == [6, 3]
    assert h.dtype == np.uint64 and len(set(h.tolist())) == 2
    assert MIN_WORDS == 3


def test_ngrams_of_digits_and_letters_are_not_indexed(tmp_path):
    digits = "0 1 2 3 4 5 6 7 8 9 10 11"
    path, meta = index(tmp_path, [("bench/d", digits), ("bench/a", ITEM_A)])
    assert meta["items_without_ngrams"] == ["bench/d"] and meta["ngrams"] == 3
    assert step(path).filter({"id": "x", "text": digits}) is None


def test_the_background_stoplists_common_ngrams(tmp_path):
    generic = words(ITEM_A, 0, 10)  # the item's first 10-gram is "generic" here
    bg = background_ngrams([generic, "unrelated words only here"], 10)
    assert bg.dtype == np.uint64 and len(bg) == 1 and (np.diff(bg) > 0).all()
    path, meta = index(tmp_path, [("bench/a", ITEM_A)], background=bg)
    assert meta["stoplisted_ngrams"] == 1 and meta["ngrams"] == 2
    s = step(path)
    assert s.filter({"id": "g", "text": generic}) is None
    assert s.filter({"id": "h", "text": words(ITEM_A, 1, 10)}) == "benchmark_contamination"
    _, plain = index(tmp_path, [("bench/a", ITEM_A)], background=np.zeros(0, np.uint64), name="p.npz")
    assert plain["stoplisted_ngrams"] == 0 and plain["ngrams"] == 3


def test_background_chunks_give_the_same_set():
    texts = [f"{ITEM_A} {i} extra word{i} here and there again" for i in range(7)]
    whole = background_ngrams(texts, 10, chunk=512)
    assert np.array_equal(background_ngrams(texts, 10, chunk=2), whole)
    assert np.array_equal(whole, np.unique(batch_ngrams(texts, 10, MIN_WORDS)[0]))
    assert len(background_ngrams([], 10)) == 0


def test_the_index_file_records_its_items_and_rows(tmp_path):
    path, meta = index(
        tmp_path / "deep" / "er", [("bench/a", ITEM_A), ("bench/b", ITEM_B), ("bench/a2", ITEM_A)]
    )
    assert meta == {"benchmarks": ["test"], "ngram": 10, "items": 3, "ngrams": 7, "items_without_ngrams": [],
                    "stoplisted_ngrams": 0, "short_items": 0}  # fmt: skip
    with np.load(path) as z:
        assert z["item_names"].tolist() == ["bench/a", "bench/b", "bench/a2"]
        h, items = z["hashes"], z["items"]
        assert len(h) == 3 + 1 + 3 and (np.diff(h.astype(np.float64)) >= 0).all()
        assert sorted(items.tolist()) == [0, 0, 0, 1, 2, 2, 2]
        assert json.loads(str(z["meta"])) == meta
    doc = {"id": "d", "text": ITEM_A}
    assert step(path).filter(doc) == "benchmark_contamination"
    assert doc["_decontam_hits"] == ["bench/a", "bench/a2"]  # an n-gram two items share names both


def test_a_missing_index_and_an_empty_one(tmp_path):
    with pytest.raises(ConfigError, match=r"decontamination index .*nope.npz not found \(build it with"):
        step(tmp_path / "nope.npz").filter({"id": "d", "text": "x"})
    with pytest.raises(ConfigError, match="index: path of a decontamination index"):
        Decontaminate.Config(index="").validate()
    path, meta = index(tmp_path, [("bench/t", "tiny")])
    assert meta["ngrams"] == 0 and meta["items_without_ngrams"] == ["bench/t"]
    assert step(path).filter_batch([{"id": "d", "text": ITEM_A}, {"id": "e", "text": ""}]) == [None, None]


def test_setup_loads_once_and_sizes_its_prefilter(tmp_path):
    path, _ = index(tmp_path, [("bench/a", ITEM_A)])
    s = step(path)
    s.setup()
    table = s._table
    assert s._bits == 16 and table.shape == (1 << 16,) and table.sum() == 3
    path.unlink()
    s.setup()  # already loaded: the file is not read again
    assert s._table is table
    many = [(f"b/{i}", " ".join(f"w{i}x{j}" for j in range(40))) for i in range(200)]  # 6,200 n-grams
    big, meta = index(tmp_path, many, name="big.npz")
    s = step(big)
    s.setup()
    assert meta["ngrams"] == 6200 and s._bits == int(np.ceil(np.log2(6200 * 16)))


def test_an_index_without_short_items_still_loads(tmp_path):
    path, _ = index(tmp_path, [("bench/a", ITEM_A)])
    with np.load(path) as z:
        old = {k: z[k] for k in ("hashes", "items", "item_names", "meta")}
    legacy = tmp_path / "legacy.npz"
    with open(legacy, "wb") as f:
        np.savez(f, **old)
    s = step(legacy)
    assert s.filter({"id": "d", "text": ITEM_A}) == "benchmark_contamination" and s._short == {}


def test_stdlib_background_reads_python_sources():
    texts, what = stdlib_background(limit=3)
    assert len(texts) == 3 and all(isinstance(t, str) and t for t in texts)
    assert what.startswith("python3.") and what.endswith("stdlib (3 files)")


def test_many_items_and_a_long_unrelated_document(tmp_path):
    """Enough index entries that unrelated n-grams pass the one-byte prefilter (~6% of them) and reach the
    exact search, including hashes beyond the largest indexed one: none of them may count as a hit."""
    rng = np.random.default_rng(5)
    vocab = [f"w{i}x" for i in range(5000)]
    items = [(f"b/{i}", " ".join(rng.choice(vocab[:2500], 14))) for i in range(150)]
    items += [(f"s/{i}", " ".join(rng.choice(vocab[:2500], 5))) for i in range(300)]  # short: 5-grams
    path, meta = index(tmp_path, items)
    assert meta["short_items"] == 300
    unrelated = " ".join(rng.choice(vocab[2500:], 6000))
    s = step(path)
    assert s.filter_batch([{"id": "u", "text": unrelated}, {"id": "v", "text": unrelated[::-1]}]) == [
        None,
        None,
    ]
    both = {"id": "x", "text": unrelated + " " + items[7][1] + " " + unrelated[:2000] + " " + items[170][1]}
    assert s.filter(both) == "benchmark_contamination" and both["_decontam_hits"] == ["b/7", "s/20"]


def test_short_items_first_last_and_after_a_one_word_item(tmp_path):
    items = [
        ("b/first", "alpha beta gamma delta"),
        ("b/solo", "solo"),
        ("b/mid", SHORT),
        ("b/last", "count the vowels"),
    ]
    path, meta = index(tmp_path, items)
    assert meta["short_items"] == 3 and meta["items_without_ngrams"] == ["b/solo"]
    s = step(path)
    for text, hit in [
        ("so alpha beta gamma delta.", "b/first"),
        ("we " + SHORT, "b/mid"),
        ("count the vowels", "b/last"),
    ]:
        doc = {"id": "d", "text": text}
        assert s.filter(doc) == "benchmark_contamination" and doc["_decontam_hits"] == [hit], text
    # a short item split across two documents of a batch, its last word in the second: no match
    docs = [{"id": "a", "text": words(SHORT, 0, 6)}, {"id": "b", "text": words(SHORT, 6, 1) + " more"}]
    assert s.filter_batch(docs) == [None, None]
    # documents with fewer words than an n-gram, and exactly a short item's length
    assert s.filter({"id": "e", "text": "two words"}) is None
    assert s.filter_batch([{"id": "f", "text": "count"}, {"id": "g", "text": "the vowels"}]) == [None, None]


def test_min_hits_bounds():
    from infir.curation.registry import build_step

    assert build_step({"type": "decontaminate", "index": "x", "min_hits": 1}).config.min_hits == 1

    with pytest.raises(ConfigError, match=r"steps\[0\]\.min_hits"):
        build_step({"type": "decontaminate", "index": "x", "min_hits": 0}, "steps[0]")


def test_the_background_leaves_out_the_stdlibs_tests():
    import sysconfig
    from pathlib import Path

    texts, what = stdlib_background()
    grammar = Path(sysconfig.get_paths()["stdlib"]) / "test" / "test_grammar.py"
    if grammar.is_file():
        assert grammar.read_text(encoding="utf-8", errors="replace") not in texts
    assert len(texts) > 100 and what.endswith(f"({len(texts)} files)")


@pytest.mark.parametrize("rows, bits", [(4097, 17), (8191, 17), (8193, 18)])
def test_the_prefilter_has_about_sixteen_slots_per_ngram(tmp_path, rows, bits):
    text = " ".join(f"t{i}q" for i in range(rows + 9))  # distinct words: `rows` distinct 10-grams
    path, meta = index(tmp_path, [("b/long", text)])
    s = step(path)
    s.setup()
    assert meta["ngrams"] == rows and s._bits == bits  # ceil(log2(16 x rows))


def grams_of_random_text(k: int, raw: bool, seed: int) -> tuple[list[str], np.ndarray]:
    """A long random text's words and their k-gram hashes, computed as the step computes them."""
    from infir.curation.dedup.store import batch_words, multi_ngram_hashes

    words = [f"v{i}z" for i in np.random.default_rng(seed).integers(0, 50_000, 600_000)]
    wh, _, _, _ = batch_words([" ".join(words)], digits=False)
    return words, multi_ngram_hashes(wh, [] if raw else [k], raw=[k] if raw else [])[k]


def test_a_candidate_above_every_indexed_key_is_no_hit(tmp_path):
    """The exact search after the prefilter clamps a candidate beyond the largest key to the last one and
    compares for equality: a candidate with the largest key's top bits (so it passes the prefilter) but a
    greater value must not match. Items are picked low in their prefilter slot, so such k-grams exist."""
    picked = {}
    for k, raw in ((4, True), (10, False)):  # a short item (raw chain value) and one 10-gram item
        words, grams = grams_of_random_text(k, raw, seed=k)
        low = np.flatnonzero((grams & np.uint64((1 << 48) - 1)) < np.uint64(1 << 44))  # 16 top bits: slot
        i = int(low[0])
        item = " ".join(words[i : i + k])
        above = np.flatnonzero((grams >> np.uint64(48) == grams[i] >> np.uint64(48)) & (grams > grams[i]))
        lower = int(np.flatnonzero(grams < grams[i] // np.uint64(2))[0])  # a second item, below the first
        picked[k] = (
            item,
            " ".join(words[int(above[0]) : int(above[0]) + k]),
            " ".join(words[lower : lower + k]),
        )
    items = [(f"b/{k}{n}", picked[k][j]) for k in picked for n, j in (("a", 0), ("b", 2))]
    path, meta = index(tmp_path, items)
    s = step(path)
    s.setup()
    assert meta["short_items"] == 2 and meta["ngrams"] == 2 and s._bits == 16  # two keys each: even counts
    for item, above, _ in picked.values():
        assert s.filter({"id": "hit", "text": "so " + item}) == "benchmark_contamination"
        assert s.filter({"id": "above", "text": above}) is None, above


def test_a_short_item_across_a_document_edge_mid_batch_is_no_match(tmp_path):
    path, _ = index(tmp_path, [("b/s", "alpha beta gamma delta")])
    docs = [{"id": "a", "text": "x alpha beta"}, {"id": "b", "text": "gamma delta"}, {"id": "c", "text": "y"}]
    assert step(path).filter_batch(docs) == [None, None, None]


def test_every_short_item_of_one_length_is_found(tmp_path):
    items = [(f"b/{i}", f"word{i}a word{i}b word{i}c") for i in range(4)]  # four 3-word items
    path, _ = index(tmp_path, items)
    s = step(path)
    s.setup()
    keys, owners = s._short[3]
    assert len(keys) == 4
    for item in owners.tolist():  # the largest key's item too
        doc = {"id": "d", "text": "so " + items[item][1]}
        assert s.filter(doc) == "benchmark_contamination" and doc["_decontam_hits"] == [items[item][0]]
