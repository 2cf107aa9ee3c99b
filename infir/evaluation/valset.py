"""Web validation-set builder (issue 3, docs/PAPER.md section 3).

The recall metric is measured on a web sample from which meaningless texts (boilerplate lists, garbled
encodings, random strings) are dropped first; they would dominate a validation NLL. The paper: "we use
existing large language models to calculate the NLL ... rank them separately. When a text ranks in the
bottom 20% across all rankings ... discard it". So each model ranks the texts by per-token NLL on its own,
and a text is dropped only when it is among the worst `drop_fraction` of every model's ranking (with one
model, simply its worst 20%).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from infir.evaluation.model import load_lm
from infir.evaluation.nll import read_jsonl, score_texts


def worst_in_every_ranking(per_token_nll: list[np.ndarray], drop_fraction: float) -> np.ndarray:
    """Boolean mask of the texts among the `drop_fraction` highest per-token NLLs of EVERY model."""
    n_drop = int(round(drop_fraction * len(per_token_nll[0])))
    mask = np.ones(len(per_token_nll[0]), dtype=bool)
    for nll in per_token_nll:
        worst = np.zeros(len(nll), dtype=bool)
        worst[np.argsort(-nll, kind="stable")[:n_drop]] = True  # stable: ties keep input order
        mask &= worst
    return mask


def build_valset(
    inputs: str | Path | list[str | Path],
    model_path: str | Path | list[str | Path],
    out: str | Path,
    drop_fraction: float = 0.2,
    field: str = "text",
    seq_len: int = 1024,
    batch_size: int = 8,
    max_docs: int | None = None,
) -> dict:
    """Score every text's per-token NLL with each LM in `model_path` (one or several), drop the texts in
    the worst `drop_fraction` of every model's ranking.

    Writes `out` (kept records, JSONL, each with `valset_nll`: one score per model, a float for one
    model) and `<out stem>.dropped.jsonl` beside it (the dropped ones, with scores). Returns a summary.
    """
    if not 0.0 <= drop_fraction < 1.0:
        raise ValueError(f"drop_fraction must be in [0, 1), got {drop_fraction}")
    paths = inputs if isinstance(inputs, list) else [inputs]
    records = []
    for p in paths:
        records.extend(read_jsonl(p, field, None if max_docs is None else max_docs - len(records)))
        if max_docs is not None and len(records) >= max_docs:
            break
    if not records:
        raise ValueError(f"{paths}: no documents")
    models = model_path if isinstance(model_path, list) else [model_path]
    rankings = []
    for m in models:
        scores = score_texts(load_lm(m), [r[field] for r in records], seq_len, batch_size)
        rankings.append(np.array([s / max(c, 1) for s, c in scores]))
    dropped = worst_in_every_ranking(rankings, drop_fraction)
    per_tok = rankings[0]
    n_drop = int(dropped.sum())
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    dropped_path = out.with_name(out.stem + ".dropped.jsonl")
    with out.open("w") as keep_fh, dropped_path.open("w") as drop_fh:
        for i, (rec, nll, is_dropped) in enumerate(zip(records, per_tok, dropped)):
            rec = {k: v for k, v in rec.items() if k != "_where"}
            rec["valset_nll"] = (
                round(float(nll), 6) if len(models) == 1 else [round(float(r[i]), 6) for r in rankings]
            )
            (drop_fh if is_dropped else keep_fh).write(json.dumps(rec, ensure_ascii=False) + "\n")
    threshold = float(per_tok[dropped].min()) if n_drop else float("inf")
    summary = {
        "docs": len(records),
        "kept": int((~dropped).sum()),
        "dropped": int(n_drop),
        "models": [str(m) for m in models],
        "drop_threshold_nll": threshold,
        "kept_mean_nll": float(per_tok[~dropped].mean()),
        "dropped_mean_nll": float(per_tok[dropped].mean()) if n_drop else None,
        "out": str(out),
        "dropped_out": str(dropped_path),
    }
    print(f"[valset] kept {summary['kept']}/{summary['docs']}, dropped {n_drop} with NLL >= {threshold:.3f}")
    return summary
