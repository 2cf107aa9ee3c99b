"""The four FineWeb steps against datatrove's own filters on random small documents under random settings.

Real-text agreement (test_web_datatrove.py) runs with the default thresholds, which real pages rarely sit
on. Here each document has a few lines built to trip one rule or another (repeated lines and paragraphs,
bullets, ellipses, hashes, short lines, citations, curly brackets, lorem ipsum, policy lines, long words,
digits), and each filter gets thresholds drawn from small fractions such as 1/3 and 0 (off), so ratios
land exactly on them: every `>` against `>=` and every off-switch is decided by datatrove, not by us.
"""

from __future__ import annotations

import random

import pytest

from infir.curation.filters.web import (
    C4Quality,
    FineWebFilters,
    FineWebQuality,
    GopherQuality,
    GopherRepetition,
)

from .realtext import web_docs

dt = pytest.importorskip("datatrove.pipeline.filters")
pytest.importorskip("spacy")
from datatrove.data import Document  # noqa: E402

# datatrove averages word lengths with np.mean, which warns on a document without words
pytestmark = pytest.mark.filterwarnings("ignore:Mean of empty slice", "ignore:invalid value encountered")

FRACS = [0, 0.1, 0.12, 0.2, 0.25, 1 / 3, 0.5, 2 / 3, 0.75, 1]


@pytest.fixture(scope="module")
def vocab():
    words = [w.strip(".,;:!?\"'()") for d in web_docs(30) for w in d["text"].split()]
    return sorted({w for w in words if w.isalpha() and len(w) < 12})


def make_doc(rng: random.Random, vocab: list[str]) -> str:
    def sentence(k: int) -> str:
        return " ".join(rng.choice(vocab) for _ in range(k))

    lines: list[str] = []
    for _ in range(rng.randint(1, 8)):
        kind = rng.randrange(16)
        if kind == 0 and lines:
            lines.append(rng.choice(lines))  # a repeated line
        elif kind == 1:
            lines.append("")  # a paragraph break
        elif kind == 2:
            lines.append(rng.choice(["- ", "• ", "  -"]) + sentence(rng.randint(1, 5)))
        elif kind == 3:
            lines.append(sentence(rng.randint(1, 6)) + rng.choice(["...", "…", " ..."]))
        elif kind == 4:
            lines.append(" ".join("#" + rng.choice(vocab) for _ in range(rng.randint(1, 4))))
        elif kind == 5:
            lines.append(rng.choice(vocab))
        elif kind == 6:
            lines.append(
                sentence(rng.randint(3, 8)) + " [" + rng.choice(["1", "edit", "citation needed", ""]) + "]."
            )
        elif kind == 7:
            lines.append(rng.choice(["lorem ipsum dolor sit amet.", "var x = {a: 1};", "Enable JavaScript to view.",
                                     "Read our privacy policy now.", "This site uses cookies today."]))  # fmt: skip
        elif kind == 8:
            lines.append(sentence(2) + " " + "x" * rng.choice([11, 12, 13]) + " " + sentence(2) + ".")
        elif kind == 9:
            lines.append(" ".join(str(rng.randrange(100)) for _ in range(rng.randint(2, 6))))
        elif kind == 10:
            gram = sentence(rng.randint(1, 3))
            lines.append(" ".join([gram] * rng.randint(2, 6)) + ".")  # repeated n-grams
        elif kind == 11:
            lines.append(sentence(rng.randint(2, 5)) + ". " + sentence(rng.randint(2, 5)) + "!")
        else:
            lines.append(sentence(rng.randint(3, 14)) + rng.choice([".", "?", "!", "", ":", '"']))
    return rng.choice(["\n", "\n", "\n\n"]).join(lines)


def pick(rng: random.Random, values):
    return rng.choice(values)


def configs(rng: random.Random) -> dict[str, dict]:
    top = {n: pick(rng, FRACS) for n in (2, 3, 4) if rng.random() < 0.8}
    dup = {n: pick(rng, FRACS) for n in range(5, 11) if rng.random() < 0.6}
    return {
        "rep": dict(
            dup_line_frac=pick(rng, FRACS),
            dup_para_frac=pick(rng, FRACS),
            dup_line_char_frac=pick(rng, FRACS),
            dup_para_char_frac=pick(rng, FRACS),
            top_n_grams=top,
            dup_n_grams=dup,
        ),  # fmt: skip
        "quality": dict(
            min_doc_words=pick(rng, [0, 1, 3, 5, 8]),
            max_doc_words=pick(rng, [0, 10, 20, 40]),
            min_avg_word_length=pick(rng, [0, 3, 4, 5]),
            max_avg_word_length=pick(rng, [0, 5, 6, 8]),
            max_symbol_word_ratio=pick(rng, FRACS),
            max_bullet_lines_ratio=pick(rng, FRACS),
            max_ellipsis_lines_ratio=pick(rng, FRACS),
            max_non_alpha_words_ratio=pick(rng, FRACS),
            min_stop_words=pick(rng, [0, 1, 2, 3]),
            stop_words=pick(rng, [["the", "of", "and"], ["a", "to"], ["the", "be", "to", "of"]]),
        ),  # fmt: skip
        "c4": dict(
            remove_citations=rng.random() < 0.7,
            filter_no_terminal_punct=rng.random() < 0.4,
            min_num_sentences=pick(rng, [-1, 0, 1, 2, 3, 5]),
            min_words_per_line=pick(rng, [0, 1, 3, 4]),
            max_word_length=pick(rng, [-1, 11, 12, 1000]),
            filter_lorem_ipsum=rng.random() < 0.8,
            filter_javascript=rng.random() < 0.8,
            filter_curly_bracket=rng.random() < 0.8,
            filter_policy=rng.random() < 0.8,
        ),  # fmt: skip
        "fineweb": dict(
            line_punct_thr=pick(rng, FRACS),
            line_punct_exclude_zero=rng.random() < 0.5,
            short_line_thr=pick(rng, FRACS),
            short_line_length=pick(rng, [0, 5, 10, 30]),
            char_duplicates_ratio=pick(rng, FRACS),
            new_line_ratio=pick(rng, [0, 0.1, 0.25, 0.5, 1]),
        ),  # fmt: skip
    }


#: documents every round sees as well: each heavy in one thing a Gopher rule counts
FIXED = [
    "the cat sat on the mat and then...\nit went to sleep with the dog…\nthe end of the story...",
    "wait... what... why… how... the end",
    "#one #two #three the cat and the dog\n#four #five of the house",
    "- first item of the list\n- second item to the point\n• third item and the rest",
    "12 34 56 78 the 90 of 11 and 22 33",
]
QUALITY_RULES = ("min_doc_words", "max_doc_words", "min_avg_word_length", "max_avg_word_length",
                 "max_symbol_word_ratio", "max_bullet_lines_ratio", "max_ellipsis_lines_ratio",
                 "max_non_alpha_words_ratio", "min_stop_words")  # fmt: skip
REP_RULES = ("dup_line_frac", "dup_para_frac", "dup_line_char_frac", "dup_para_char_frac")


def one_rule_on(rng: random.Random, cfg: dict[str, dict]) -> dict[str, dict]:
    """Every Gopher rule off (0) but one, so each rule decides some documents on its own."""
    keep = rng.choice(QUALITY_RULES)
    cfg["quality"] = {k: (v if k == keep or k == "stop_words" else 0) for k, v in cfg["quality"].items()}
    if cfg["quality"][keep] == 0:
        cfg["quality"][keep] = {"max_doc_words": 10, "min_stop_words": 2, "min_doc_words": 5}.get(keep, 0.1)
    keep = rng.choice(REP_RULES + ("top_n_grams", "dup_n_grams"))
    for k in REP_RULES:
        if k != keep:
            cfg["rep"][k] = 0
    cfg["rep"]["top_n_grams"] = {n: f for n, f in cfg["rep"]["top_n_grams"].items() if keep == "top_n_grams"}
    cfg["rep"]["dup_n_grams"] = {n: f for n, f in cfg["rep"]["dup_n_grams"].items() if keep == "dup_n_grams"}
    return cfg


def theirs(flt, text: str) -> tuple[str | None, str]:
    doc = Document(text=text, id="x")
    try:
        out = flt.filter(doc)
    except ZeroDivisionError:
        return "ZeroDivisionError", text
    return (None if out is True else (out[1] if isinstance(out, tuple) else "dropped")), doc.text


def ours(step, text: str) -> tuple[str | None, str]:
    doc = {"id": "x", "text": text}
    try:
        return step.filter(doc), doc["text"]
    except ZeroDivisionError:
        return "ZeroDivisionError", text


def datatrove_filters(cfg: dict[str, dict]):
    rep = dict(cfg["rep"])
    rep["top_n_grams"] = tuple(rep["top_n_grams"].items())
    rep["dup_n_grams"] = tuple(rep["dup_n_grams"].items())
    return [dt.GopherRepetitionFilter(**rep), dt.GopherQualityFilter(**cfg["quality"]),
            dt.C4QualityFilter(**cfg["c4"]), dt.FineWebQualityFilter(**cfg["fineweb"])]  # fmt: skip


def our_steps(cfg: dict[str, dict]):
    return [GopherRepetition(GopherRepetition.Config(**cfg["rep"])), GopherQuality(GopherQuality.Config(**cfg["quality"])),
            C4Quality(C4Quality.Config(**cfg["c4"])), FineWebQuality(FineWebQuality.Config(**cfg["fineweb"]))]  # fmt: skip


def test_each_filter_decides_as_datatrove_under_random_settings(vocab):
    rng = random.Random(7)
    seen: dict[str, set] = {name: set() for name in ("rep", "quality", "c4", "fineweb")}
    for round_ in range(60):
        cfg = configs(rng) if round_ % 2 else one_rule_on(rng, configs(rng))
        pairs = list(zip(cfg, our_steps(cfg), datatrove_filters(cfg)))
        for text in [make_doc(rng, vocab) for _ in range(12)] + FIXED:
            for name, mine, their in pairs:
                expected = theirs(their, text)
                assert ours(mine, text) == expected, (round_, name, cfg[name], text)
                seen[name].add(expected[0])
    # the documents reach most rules of every filter, not just "keep"
    assert seen["quality"] >= set(GopherQuality.reasons) | {None}, seen["quality"] ^ set(
        GopherQuality.reasons
    )
    assert seen["rep"] >= {None, "dup_para_frac", "dup_para_char_frac", "dup_line_frac", "dup_line_char_frac",
                           "top_2_gram", "top_3_gram"}, seen["rep"]  # fmt: skip
    assert any(r and r.startswith("duplicated_") for r in seen["rep"]), seen["rep"]
    assert seen["c4"] >= {None, "lorem_ipsum", "curly_bracket", "too_few_sentences"}, seen
    assert seen["fineweb"] >= {
        None,
        "line_punct_ratio",
        "short_line_ratio",
        "char_dup_ratio",
        "list_ratio",
    }, seen


#: (filter, settings, text) with a ratio exactly at its threshold: datatrove keeps such a document
AT_THRESHOLD = [
    ("rep", {"dup_line_char_frac": 0.25}, "aaaa\naaaa\nbbbbbb"),  # 4 repeated chars of 16
    ("quality", {"max_symbol_word_ratio": 0.2}, "#tag one two three"),  # 1 hash, 5 words
    ("rep", {"dup_para_char_frac": 4 / 18}, "aaaa\n\naaaa\n\nbbbbbb"),  # 4 repeated chars of 18
    ("quality", {"max_symbol_word_ratio": 0.25}, "one two three..."),  # 1 ellipsis, 4 words
    ("quality", {"max_non_alpha_words_ratio": 0.5}, "abc123 456 789 x9"),  # 2 of 4 words hold a letter
]


def test_n_gram_rules_in_any_order():
    """A document too short for the first n listed is still checked for the next (n in any order)."""
    settings = dict(dup_line_frac=0, dup_para_frac=0, dup_line_char_frac=0, dup_para_char_frac=0)
    mine = GopherRepetition(GopherRepetition.Config(**settings, top_n_grams={4: 0.1, 2: 0.2}, dup_n_grams={}))
    their = dt.GopherRepetitionFilter(**settings, top_n_grams=((4, 0.1), (2, 0.2)), dup_n_grams=())
    assert ours(mine, "ab ab ab") == theirs(their, "ab ab ab") == ("top_2_gram", "ab ab ab")


@pytest.mark.parametrize("kind, settings, text", AT_THRESHOLD)
def test_a_ratio_at_its_threshold_keeps_the_document(kind, settings, text):
    off = {
        "rep": dict(
            dup_line_frac=0,
            dup_para_frac=0,
            dup_line_char_frac=0,
            dup_para_char_frac=0,
            top_n_grams={},
            dup_n_grams={},
        ),  # fmt: skip
        "quality": {k: 0 for k in QUALITY_RULES},
    }[kind]
    mine = {"rep": GopherRepetition, "quality": GopherQuality}[kind]
    their = {"rep": dt.GopherRepetitionFilter, "quality": dt.GopherQualityFilter}[kind]
    cfg = {**off, **settings}
    if kind == "rep":
        their_cfg = {**cfg, "top_n_grams": (), "dup_n_grams": ()}
    else:
        their_cfg = cfg
    assert ours(mine(mine.Config(**cfg)), text) == theirs(their(**their_cfg), text) == (None, text)
    # and just above it, both drop
    assert ours(mine(mine.Config(**cfg)), text + "\n#x")[0] == theirs(their(**their_cfg), text + "\n#x")[0]


def test_the_combined_step_equals_the_four_in_order(vocab):
    rng = random.Random(11)
    seen = set()
    for round_ in range(30):
        cfg = configs(rng) if round_ % 2 else one_rule_on(rng, configs(rng))
        if cfg["quality"]["min_doc_words"] == 0:  # datatrove divides by the word count
            cfg["quality"]["min_doc_words"] = 1
        combined = FineWebFilters(
            FineWebFilters.Config(
                gopher_repetition=GopherRepetition.Config(**cfg["rep"]),
                gopher_quality=GopherQuality.Config(**cfg["quality"]),
                c4_quality=C4Quality.Config(**cfg["c4"]),
                fineweb_quality=FineWebQuality.Config(**cfg["fineweb"]),
            )
        )
        chain = datatrove_filters(cfg)
        for text in [make_doc(rng, vocab) for _ in range(10)] + FIXED:
            expected, expected_text = None, text
            for flt in chain:
                expected, expected_text = theirs(flt, expected_text)
                if expected is not None:
                    break
            doc = {"id": "x", "text": text}
            try:
                got = combined.filter_batch([doc])[0]
            except ZeroDivisionError:
                got = "ZeroDivisionError"
            assert got == expected, (cfg, text)
            seen.add(got)
            if got is None:
                assert doc["text"] == expected_text
    # documents reach the last two filters of the chain too
    assert seen & set(C4Quality.reasons) and seen & set(FineWebQuality.reasons), seen
