"""Web validation-set builder (issue 3, RECIPE.md section 3).

The recall metric is measured on a web sample from which an existing LM's worst-ranked texts are dropped
first: the texts with the highest per-token NLL (bottom 20% by default) are mostly meaningless (boilerplate
lists, garbled encodings, random strings), and they would dominate a validation NLL.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from infir.evaluation.model import load_lm
from infir.evaluation.nll import read_jsonl, score_texts


def build_valset(
    inputs: str | Path | list[str | Path],
    model_path: str | Path,
    out: str | Path,
    drop_fraction: float = 0.2,
    field: str = "text",
    seq_len: int = 1024,
    batch_size: int = 8,
    max_docs: int | None = None,
) -> dict:
    """Score every text's per-token NLL with the LM at `model_path`, drop the worst `drop_fraction`.

    Writes `out` (kept records, JSONL, each with `valset_nll` added) and `<out stem>.dropped.jsonl`
    beside it (the dropped ones, with scores). Returns a summary dict.
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
    lm = load_lm(model_path)
    scores = score_texts(lm, [r[field] for r in records], seq_len, batch_size)
    per_tok = np.array([s / max(c, 1) for s, c in scores])
    n_drop = int(round(drop_fraction * len(records)))
    # Stable argsort from the highest NLL: the first n_drop are the worst texts.
    worst = np.argsort(-per_tok, kind="stable")[:n_drop]
    dropped = np.zeros(len(records), dtype=bool)
    dropped[worst] = True
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    dropped_path = out.with_name(out.stem + ".dropped.jsonl")
    with out.open("w") as keep_fh, dropped_path.open("w") as drop_fh:
        for rec, nll, is_dropped in zip(records, per_tok, dropped):
            rec = {k: v for k, v in rec.items() if k != "_where"}
            rec["valset_nll"] = round(float(nll), 6)
            (drop_fh if is_dropped else keep_fh).write(json.dumps(rec, ensure_ascii=False) + "\n")
    threshold = float(per_tok[worst].min()) if n_drop else float("inf")
    summary = {
        "docs": len(records),
        "kept": int((~dropped).sum()),
        "dropped": int(n_drop),
        "drop_threshold_nll": threshold,
        "kept_mean_nll": float(per_tok[~dropped].mean()),
        "dropped_mean_nll": float(per_tok[dropped].mean()) if n_drop else None,
        "out": str(out),
        "dropped_out": str(dropped_path),
    }
    print(f"[valset] kept {summary['kept']}/{summary['docs']}, dropped {n_drop} with NLL >= {threshold:.3f}")
    return summary
