"""Our FineWeb filter set against datatrove 0.10.1 itself, document by document, on real text."""

from __future__ import annotations

import copy
from collections import Counter

import pytest

from infir.curation.filters.web import (
    C4Quality,
    FineWebFilters,
    FineWebQuality,
    GopherQuality,
    GopherRepetition,
)

from .realtext import web_docs

dt_filters = pytest.importorskip("datatrove.pipeline.filters")
pytest.importorskip("spacy")


def datatrove_chain():
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    # FineWeb's production order and settings (datatrove examples/fineweb.py)
    return [
        GopherRepetitionFilter(),
        GopherQualityFilter(),
        C4QualityFilter(filter_no_terminal_punct=False),
        FineWebQualityFilter(),
    ]


def datatrove_decision(chain, text: str) -> tuple[str | None, str]:
    from datatrove.data import Document

    doc = Document(text=text, id="x")
    for f in chain:
        out = f.filter(doc)
        if out is not True:
            return (out[1] if isinstance(out, tuple) else "dropped"), doc.text
    return None, doc.text


def test_fineweb_set_matches_datatrove_doc_by_doc():
    docs = web_docs(500)
    chain = datatrove_chain()
    ours = FineWebFilters()
    separate = [GopherRepetition(), GopherQuality(), C4Quality(), FineWebQuality()]
    mismatches, reasons = [], Counter()
    for doc in docs:
        expected, expected_text = datatrove_decision(chain, doc["text"])
        mine = copy.deepcopy(doc)
        got = ours.filter_batch([mine])[0]
        # the four steps run one after another must agree too (C4 rewrites the text in between)
        chained = copy.deepcopy(doc)
        got_sep = next((r for s in separate if (r := s.filter(chained)) is not None), None)
        reasons[expected] += 1
        if got != expected or got_sep != expected or (got is None and mine["text"] != expected_text):
            mismatches.append((doc["id"], expected, got, got_sep))
    assert not mismatches, f"{len(mismatches)} disagreements, first: {mismatches[:5]}"
    # the corpus must exercise several rules, not just pass everything
    assert reasons[None] >= 10 and len(reasons) >= 6, reasons


@pytest.mark.parametrize("ending", [3, 2, 4])
def test_line_punctuation_ratio_at_its_exact_threshold(ending):
    """25 real-text lines, `ending` of them ending in a full stop: 3/25 is exactly FineWeb's 0.12, which
    datatrove keeps (it drops only below the threshold); 2/25 drops, 4/25 keeps. Ours must agree."""
    from datatrove.data import Document
    from datatrove.pipeline.filters import FineWebQualityFilter

    words = [w.strip(".,;:!?\"'") for d in web_docs(200) for w in d["text"].split()]
    words = [w for w in words if w.isalpha()]
    lines = [" ".join(words[i * 12 : (i + 1) * 12]) for i in range(25)]
    lines = [line + ("." if i < ending else "") for i, line in enumerate(lines)]
    text = "\n".join(lines)
    ours = FineWebQuality().filter({"id": "x", "text": text})
    out = FineWebQualityFilter().filter(Document(text=text, id="x"))
    theirs = None if out is True else out[1]
    assert ours == theirs == (None if ending >= 3 else "line_punct_ratio"), (ours, theirs)
