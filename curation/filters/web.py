"""The FineWeb heuristic filter set, decision-for-decision identical to datatrove 0.10.1.

Four steps (Gopher repetition, Gopher quality, C4 quality with the terminal-punctuation rule off, FineWeb
quality) with datatrove's thresholds and reason names, plus `fineweb_filters`, the four in FineWeb's order
over ONE tokenization per document. Where datatrove re-tokenizes with spaCy in every filter (and per line in
C4), these steps share `TextStats.words` and skip tokenizing whenever a cheap bound already decides:
C4 counts sentences only when fewer than `min_num_sentences` lines survive (each kept line holds >= 1
sentence), and FineWeb's list ratio uses `len(text.split())`, a lower bound of the spaCy word count.
C4 rewrites `text` to its kept lines, as datatrove does, so later steps see the same text.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import accumulate

from infir.config import fail
from infir.curation.base import Doc, Step, doc_text
from infir.curation.filters.textstats import (
    PUNCTUATION_SET,
    TERMINAL_PUNCTUATION,
    TextStats,
    all_dup_chars,
    count_sentences,
    dups,
    memory_zone,
)
from infir.curation.registry import register_step

_PARA = re.compile(r"\n{2,}")
_LINES = re.compile("\n+")
CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
POLICY = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")
STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")
#: config bounds (infir.config.strict): a fraction of lines/words/chars, a count or length, or -1 for off
RATIO = {"ge": 0, "le": 1}
NON_NEG = {"ge": 0}
OFF_OR_NON_NEG = {"ge": -1}


def _stats(doc: Doc) -> TextStats:
    return TextStats(doc_text(doc, "web filters"))


@register_step("gopher_repetition")
class GopherRepetition(Step):
    reasons = ("empty", "dup_para_frac", "dup_para_char_frac", "dup_line_frac", "dup_line_char_frac")
    reasons += tuple(f"top_{n}_gram" for n in (2, 3, 4)) + tuple(
        f"duplicated_{n}_n_grams" for n in range(5, 11)
    )

    @dataclass
    class Config:
        dup_line_frac: float = field(default=0.3, metadata=RATIO)
        dup_para_frac: float = field(default=0.3, metadata=RATIO)
        dup_line_char_frac: float = field(default=0.2, metadata=RATIO)
        dup_para_char_frac: float = field(default=0.2, metadata=RATIO)
        top_n_grams: dict[int, float] = field(default_factory=lambda: {2: 0.2, 3: 0.18, 4: 0.16})
        dup_n_grams: dict[int, float] = field(
            default_factory=lambda: {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}
        )

        def validate(self) -> None:
            # metadata bounds cannot reach dict entries: n >= 1 words, fractions of the text in [0, 1]
            for name in ("top_n_grams", "dup_n_grams"):
                for n, frac in getattr(self, name).items():
                    if n < 1 or not 0 <= frac <= 1:
                        fail(f"{name}.{n}", f"needs n >= 1 and 0 <= fraction <= 1, got {n}: {frac!r}")

    def filter(self, doc: Doc) -> str | None:
        return self.check(_stats(doc))

    def check(self, st: TextStats) -> str | None:
        c, text = self.config, st.text
        if not text:
            return "empty"
        paras = _PARA.split(text.strip())
        n, chars = dups(paras)
        if c.dup_para_frac and n / len(paras) > c.dup_para_frac:
            return "dup_para_frac"
        if c.dup_para_char_frac and chars / len(text) > c.dup_para_char_frac:
            return "dup_para_char_frac"
        lines = _LINES.split(text)
        n, chars = dups(lines)
        if c.dup_line_frac and n / len(lines) > c.dup_line_frac:
            return "dup_line_frac"
        if c.dup_line_char_frac and chars / len(text) > c.dup_line_char_frac:
            return "dup_line_char_frac"
        words = st.words
        for n, frac in c.top_n_grams.items():
            if len(words) < n:
                continue
            # tuples compare like datatrove's " "-joined n-grams (tokens never contain spaces)
            gram, count = Counter(zip(*(words[i:] for i in range(n)))).most_common(1)[0]
            if (sum(map(len, gram)) + n - 1) * count / len(text) > frac:
                return f"top_{n}_gram"
        joined, offsets = "".join(words), list(accumulate(map(len, words), initial=0))
        for n, frac in c.dup_n_grams.items():
            if all_dup_chars(joined, offsets, n, len(text), frac) / len(text) > frac:
                return f"duplicated_{n}_n_grams"
        return None


@register_step("gopher_quality")
class GopherQuality(Step):
    reasons = (
        "gopher_short_doc", "gopher_long_doc", "gopher_below_avg_threshold", "gopher_above_avg_threshold",
        "gopher_too_many_hashes", "gopher_too_many_ellipsis", "gopher_too_many_bullets",
        "gopher_too_many_end_ellipsis", "gopher_below_alpha_threshold", "gopher_enough_stop_words",
    )  # fmt: skip

    @dataclass
    class Config:
        # 0 turns a rule off (datatrove tests each threshold for truthiness), so 0 is always allowed
        min_doc_words: int = field(default=50, metadata=NON_NEG)
        max_doc_words: int = field(default=100000, metadata=NON_NEG)
        min_avg_word_length: float = field(default=3, metadata=NON_NEG)
        max_avg_word_length: float = field(default=10, metadata=NON_NEG)
        #: "#" or ellipses per word: a page can hold more than one per word, so no upper bound
        max_symbol_word_ratio: float = field(default=0.1, metadata=NON_NEG)
        max_bullet_lines_ratio: float = field(default=0.9, metadata=RATIO)
        max_ellipsis_lines_ratio: float = field(default=0.3, metadata=RATIO)
        max_non_alpha_words_ratio: float = field(default=0.8, metadata=RATIO)
        min_stop_words: int = field(default=2, metadata=NON_NEG)
        stop_words: list[str] = field(default_factory=lambda: list(STOP_WORDS))

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(config)
        self._stop = frozenset(self.config.stop_words)

    def filter(self, doc: Doc) -> str | None:
        return self.check(_stats(doc))

    def check(self, st: TextStats) -> str | None:
        c, text, words = self.config, st.text, st.words
        n_words = len(words)
        lens = [len(w) for w in words if not PUNCTUATION_SET.issuperset(w)]
        if c.min_doc_words and len(lens) < c.min_doc_words:
            return "gopher_short_doc"
        if c.max_doc_words and len(lens) > c.max_doc_words:
            return "gopher_long_doc"
        # datatrove averages with np.mean: its float64 partial sums of ints are exact (< 2**53), so the mean
        # is the correctly rounded sum/len, which is exactly what Python's int / int gives (no words: NaN)
        avg = sum(lens) / len(lens) if lens else math.nan
        if c.min_avg_word_length and avg < c.min_avg_word_length:
            return "gopher_below_avg_threshold"
        if c.max_avg_word_length and avg > c.max_avg_word_length:
            return "gopher_above_avg_threshold"
        if c.max_symbol_word_ratio and text.count("#") / n_words > c.max_symbol_word_ratio:
            return "gopher_too_many_hashes"
        if (
            c.max_symbol_word_ratio
            and (text.count("...") + text.count("…")) / n_words > c.max_symbol_word_ratio
        ):
            return "gopher_too_many_ellipsis"
        lines = text.splitlines()
        if c.max_bullet_lines_ratio:
            bullets = sum(s.lstrip().startswith(("•", "-")) for s in lines)
            if bullets / len(lines) > c.max_bullet_lines_ratio:
                return "gopher_too_many_bullets"
        if c.max_ellipsis_lines_ratio:
            ell = sum(s.rstrip().endswith(("...", "…")) for s in lines)
            if ell / len(lines) > c.max_ellipsis_lines_ratio:
                return "gopher_too_many_end_ellipsis"
        if c.max_non_alpha_words_ratio:
            # w.isalpha() (all letters) settles most words at C speed; the scan is for mixed ones
            alpha = sum(1 for w in words if w.isalpha() or any(ch.isalpha() for ch in w))
            if alpha / n_words < c.max_non_alpha_words_ratio:
                return "gopher_below_alpha_threshold"
        if c.min_stop_words and len(self._stop.intersection(words)) < c.min_stop_words:
            return "gopher_enough_stop_words"
        return None


@register_step("c4_quality")
class C4Quality(Step):
    """C4 rules; FineWeb runs it with `filter_no_terminal_punct: false`, which is this step's default."""

    reasons = ("lorem_ipsum", "curly_bracket", "too_few_sentences")

    @dataclass
    class Config:
        filter_no_terminal_punct: bool = False
        remove_citations: bool = True
        min_num_sentences: int = field(default=5, metadata=OFF_OR_NON_NEG)  # -1: off (datatrove)
        min_words_per_line: int = field(default=3, metadata=NON_NEG)
        max_word_length: int = field(default=1000, metadata=OFF_OR_NON_NEG)  # -1: off (datatrove)
        filter_lorem_ipsum: bool = True
        filter_javascript: bool = True
        filter_curly_bracket: bool = True
        filter_policy: bool = True
        #: replace `text` by the kept lines, as datatrove does (later filters see the cleaned text)
        rewrite_text: bool = True

    def filter(self, doc: Doc) -> str | None:
        reason, text = self.check(_stats(doc).text)
        if reason is None and self.config.rewrite_text:
            doc["text"] = text
        return reason

    def check(self, text: str) -> tuple[str | None, str]:
        c = self.config
        kept: list[str] = []
        for line in text.splitlines():
            line = line.strip()
            words = line.split()
            if c.max_word_length != -1 and any(len(w) > c.max_word_length for w in words):
                continue
            if c.remove_citations:
                line = CITATION.sub("", line)
            if c.filter_no_terminal_punct and (
                not line.endswith((".", "?", "!", '"', "'")) or line.endswith("...")
            ):
                continue
            if len(words) < c.min_words_per_line:
                continue
            low = line.lower()
            if c.filter_lorem_ipsum and "lorem ipsum" in low:
                return "lorem_ipsum", text
            if c.filter_javascript and "javascript" in low:
                continue
            if c.filter_curly_bracket and "{" in line:
                return "curly_bracket", text
            if c.filter_policy and any(p in low for p in POLICY):
                continue
            kept.append(line)
        # every kept line has >= 1 sentence, so only a short page needs the sentence splitter
        short = c.min_num_sentences != -1 and len(kept) < c.min_num_sentences
        if short and sum(count_sentences(line) for line in kept) < c.min_num_sentences:
            return "too_few_sentences", text
        return None, "\n".join(kept).strip()


@register_step("fineweb_quality")
class FineWebQuality(Step):
    reasons = ("empty", "line_punct_ratio", "short_line_ratio", "char_dup_ratio", "list_ratio")

    @dataclass
    class Config:
        line_punct_thr: float = field(default=0.12, metadata=RATIO)
        line_punct_exclude_zero: bool = False
        short_line_thr: float = field(default=0.67, metadata=RATIO)
        short_line_length: int = field(default=30, metadata=NON_NEG)
        char_duplicates_ratio: float = field(default=0.01, metadata=RATIO)
        #: newlines per word: a list page can have more than one, so no upper bound
        new_line_ratio: float = field(default=0.3, metadata=NON_NEG)

    def filter(self, doc: Doc) -> str | None:
        return self.check(_stats(doc))

    def check(self, st: TextStats) -> str | None:
        c, text = self.config, st.text
        lines = [line for line in text.split("\n") if line.strip() != ""]
        if not lines:
            return "empty"
        ratio = sum(1 for line in lines if line.endswith(TERMINAL_PUNCTUATION)) / len(lines)
        if ratio < c.line_punct_thr and not (ratio == 0 and c.line_punct_exclude_zero):
            return "line_punct_ratio"
        if sum(1 for line in lines if len(line) <= c.short_line_length) / len(lines) > c.short_line_thr:
            return "short_line_ratio"
        if dups(lines)[1] / len(text.replace("\n", "")) > c.char_duplicates_ratio:
            return "char_dup_ratio"
        newlines = text.count("\n")
        # whitespace chunks never outnumber spaCy words: tokenize only when the cheap bound cannot decide
        if newlines / len(text.split()) > c.new_line_ratio and newlines / len(st.words) > c.new_line_ratio:
            return "list_ratio"
        return None


@register_step("fineweb_filters")
class FineWebFilters(Step):
    """Gopher repetition -> Gopher quality -> C4 (no terminal-punct rule) -> FineWeb quality, one tokenization."""

    reasons = GopherRepetition.reasons + GopherQuality.reasons + C4Quality.reasons + FineWebQuality.reasons
    reasons = tuple(dict.fromkeys(reasons))

    @dataclass
    class Config:
        gopher_repetition: GopherRepetition.Config = field(default_factory=GopherRepetition.Config)
        gopher_quality: GopherQuality.Config = field(default_factory=GopherQuality.Config)
        c4_quality: C4Quality.Config = field(default_factory=C4Quality.Config)
        fineweb_quality: FineWebQuality.Config = field(default_factory=FineWebQuality.Config)

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(config)
        self.rep = GopherRepetition(self.config.gopher_repetition)
        self.quality = GopherQuality(self.config.gopher_quality)
        self.c4 = C4Quality(self.config.c4_quality)
        self.fineweb = FineWebQuality(self.config.fineweb_quality)

    def filter(self, doc: Doc) -> str | None:
        st = _stats(doc)
        reason = self.rep.check(st) or self.quality.check(st)
        if reason:
            return reason
        reason, text = self.c4.check(st.text)
        if reason:
            return reason
        if self.config.c4_quality.rewrite_text:
            doc["text"] = text
        return self.fineweb.check(st if text == st.text else TextStats(text))

    def filter_batch(self, docs: Sequence[Doc]) -> list[str | None]:
        with memory_zone():  # one spaCy memory zone per batch: vocab does not grow across batches
            return [self.filter(d) for d in docs]
