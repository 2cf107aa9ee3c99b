"""The web filter configs reject out-of-range thresholds with a ConfigError naming the field."""

from __future__ import annotations

import pytest

from infir.config import ConfigError
from infir.curation.registry import build_step

BAD = [
    ("gopher_quality", {"min_doc_words": -3}, "min_doc_words"),
    ("gopher_quality", {"max_non_alpha_words_ratio": 5}, "max_non_alpha_words_ratio"),
    ("gopher_quality", {"max_bullet_lines_ratio": 1.5}, "max_bullet_lines_ratio"),
    ("gopher_quality", {"min_avg_word_length": -1}, "min_avg_word_length"),
    ("gopher_quality", {"min_stop_words": -2}, "min_stop_words"),
    ("gopher_repetition", {"dup_line_frac": 1.2}, "dup_line_frac"),
    ("gopher_repetition", {"top_n_grams": {2: 3.0}}, "top_n_grams.2"),
    ("gopher_repetition", {"top_n_grams": {3: -0.1}}, "top_n_grams.3"),
    ("gopher_repetition", {"dup_n_grams": {5: -0.5}}, "dup_n_grams.5"),
    ("gopher_repetition", {"dup_n_grams": {6: 1.5}}, "dup_n_grams.6"),
    ("gopher_repetition", {"dup_n_grams": {0: 0.1}}, "dup_n_grams.0"),
    ("c4_quality", {"min_num_sentences": -5}, "min_num_sentences"),
    ("c4_quality", {"max_word_length": -2}, "max_word_length"),
    ("fineweb_quality", {"line_punct_thr": -0.1}, "line_punct_thr"),
    ("fineweb_quality", {"char_duplicates_ratio": 2}, "char_duplicates_ratio"),
    ("fineweb_quality", {"short_line_length": -30}, "short_line_length"),
]


@pytest.mark.parametrize(("kind", "params", "field"), BAD, ids=[f"{k}.{f}" for k, _, f in BAD])
def test_bad_threshold_fails_naming_the_field(kind, params, field):
    with pytest.raises(ConfigError) as err:
        build_step({"type": kind, **params}, "steps[0]")
    assert err.value.path == f"steps[0].{field}"
    # the combined step checks the same bounds inside its sections
    with pytest.raises(ConfigError) as err:
        build_step({"type": "fineweb_filters", kind: params}, "steps[1]")
    assert err.value.path == f"steps[1].{kind}.{field}"


def test_off_switches_and_edges_are_accepted():
    # datatrove turns rules off with 0 (and C4 with -1); ratios may sit on their bounds
    build_step({"type": "gopher_quality", "min_doc_words": 0, "max_non_alpha_words_ratio": 1})
    build_step({"type": "c4_quality", "min_num_sentences": -1, "max_word_length": -1})
    build_step({"type": "fineweb_quality", "line_punct_thr": 0.0, "new_line_ratio": 3.0})
    build_step({"type": "gopher_repetition", "top_n_grams": {2: 0.0}, "dup_line_frac": 0})


def test_defaults_are_datatroves_with_finewebs_c4_setting():
    """The steps' defaults are datatrove 0.10.1's own (read from its constructors), except C4's terminal
    punctuation rule, which FineWeb turns off."""
    import dataclasses
    import inspect

    dt = pytest.importorskip("datatrove.pipeline.filters")
    from datatrove.pipeline.filters.gopher_quality_filter import STOP_WORDS

    from infir.curation.filters.web import C4Quality, FineWebQuality, GopherQuality, GopherRepetition

    pairs = [(GopherRepetition, dt.GopherRepetitionFilter), (GopherQuality, dt.GopherQualityFilter),
             (C4Quality, dt.C4QualityFilter), (FineWebQuality, dt.FineWebQualityFilter)]  # fmt: skip
    compared = 0
    for ours, theirs in pairs:
        params = inspect.signature(theirs.__init__).parameters
        for f in dataclasses.fields(ours.Config):
            if f.name not in params:
                assert f.name == "rewrite_text"  # ours alone: datatrove always rewrites
                continue
            compared += 1
            mine, default = getattr(ours.Config(), f.name), params[f.name].default
            if f.name in ("top_n_grams", "dup_n_grams"):
                default = dict(default)
            elif f.name == "stop_words":
                default = STOP_WORDS
            elif f.name == "filter_no_terminal_punct":
                assert default is True and mine is False  # FineWeb's C4 setting
                continue
            assert mine == default, (ours.__name__, f.name, mine, default)
    assert compared == 31
    assert not hasattr(C4Quality.Config(), "split_paragraph")  # datatrove's default (True) is the only mode


def test_the_smallest_n_and_whole_fractions_are_accepted():
    step = build_step({"type": "gopher_repetition", "top_n_grams": {1: 1.0}, "dup_n_grams": {1: 0.0}})
    assert step.config.top_n_grams == {1: 1.0} and step.config.dup_n_grams == {1: 0.0}


def test_reason_names_cover_every_n_gram_rule():
    from infir.curation.filters.web import GopherRepetition

    c = GopherRepetition.Config()
    assert GopherRepetition.reasons == (
        "empty", "dup_para_frac", "dup_para_char_frac", "dup_line_frac", "dup_line_char_frac",
        *(f"top_{n}_gram" for n in c.top_n_grams), *(f"duplicated_{n}_n_grams" for n in c.dup_n_grams),
    )  # fmt: skip
